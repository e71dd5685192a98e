//! Evaluation of a parsed script into a checked `Pipeline`.
//!
//! Statements run in order over a scope of vars, the way Kapacitor's `tick.Evaluate` does:
//! a `var` bound to a chain holds a node, a `var` bound to a literal holds a value that is
//! substituted wherever it is used (in lambdas too), and every chaining/property method is
//! checked against `catalog` as it is applied, so an error names the node (`window2`), the
//! method and its position.

use std::collections::HashMap;

use crate::ast::{BinaryOp, ChainOp, Expr, FuncKind, Pos, Program, Stmt, Tree, TreeKind, UnaryOp};
use crate::catalog::{self, ArgSlot, Repeat, spec_for_kind};
use crate::error::Error;
use crate::format::expr_to_string;
use crate::parser::parse_lambda;
use crate::pipeline::{Arg, Dbrp, Node, Pipeline, Property, TaskType};
use crate::vars::{Var, VarType, VarValue, Vars};

type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// A pipeline node; `handler` is the index (in the node's props) of the alert handler
    /// whose properties follow, if one is open.
    Node {
        id: usize,
        handler: Option<usize>,
    },
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Duration(i64),
    Regex(String),
    Star,
    /// `"name"` outside a lambda: only useful as a mistake to report.
    Reference(String),
    Lambda(Expr),
    List(Vec<Value>),
    /// `time(10s)` or `time(10s, 5s)`, a query group-by dimension: length and offset.
    Time(i64, i64),
}

impl Value {
    fn var_type(&self) -> Option<VarType> {
        Some(match self {
            Value::Int(_) => VarType::Int,
            Value::Float(_) => VarType::Float,
            Value::Str(_) => VarType::String,
            Value::Bool(_) => VarType::Bool,
            Value::Duration(_) => VarType::Duration,
            Value::Regex(_) => VarType::Regex,
            Value::Star => VarType::Star,
            Value::Lambda(_) => VarType::Lambda,
            Value::List(_) => VarType::List,
            Value::Node { .. } | Value::Reference(_) | Value::Time(..) => return None,
        })
    }

    fn type_name(&self) -> &'static str {
        match self {
            Value::Node { .. } => "node",
            Value::Reference(_) => "reference",
            Value::Time(..) => "time dimension",
            other => other.var_type().map_or("value", VarType::as_str),
        }
    }
}

pub(crate) fn compile(program: &Program, vars: &Vars) -> Result<Pipeline> {
    let (task_type, pos) = task_type(program)?;
    let mut c = Compiler::new(vars, task_type, pos, false);
    for stmt in &program.stmts {
        c.statement(stmt)?;
    }
    c.validate(task_type)?;
    Ok(Pipeline {
        task_type,
        nodes: c.nodes,
        dbrps: c.dbrps,
    })
}

/// The vars a script declares, evaluated with their defaults. Statements that fail to
/// evaluate are skipped: a template may be incomplete until its vars are given.
pub(crate) fn declared_vars(program: &Program) -> Vars {
    let (task_type, pos) = task_type(program).unwrap_or((TaskType::Stream, Pos::default()));
    let no_vars = Vars::default();
    let mut c = Compiler::new(&no_vars, task_type, pos, true);
    let mut out = Vars::default();
    for stmt in &program.stmts {
        let declared = match stmt {
            Stmt::Var { name, comment, .. } | Stmt::TypedVar { name, comment, .. } => {
                Some((name, comment.as_ref().map(|c| c.text()).unwrap_or_default()))
            }
            _ => None,
        };
        if c.statement(stmt).is_err() {
            continue;
        }
        let Some((name, description)) = declared else {
            continue;
        };
        let var = match stmt {
            Stmt::TypedVar { ty, .. } => VarType::from_decl(ty).map(|ty| Var {
                ty,
                value: VarValue::Null,
                description,
            }),
            _ => c.scope.get(name).and_then(|v| {
                Some(Var {
                    ty: v.var_type()?,
                    value: to_var_value(v)?,
                    description,
                })
            }),
        };
        if let Some(var) = var {
            out.insert(name.clone(), var);
        }
    }
    out
}

fn to_var_value(v: &Value) -> Option<VarValue> {
    Some(match v {
        Value::Int(i) => VarValue::Int(*i),
        Value::Float(f) => VarValue::Float(*f),
        Value::Str(s) => VarValue::String(s.clone()),
        Value::Bool(b) => VarValue::Bool(*b),
        Value::Duration(d) => VarValue::Duration(*d),
        Value::Regex(r) => VarValue::Regex(r.clone()),
        Value::Star => VarValue::Star,
        Value::Lambda(e) => VarValue::Lambda(expr_to_string(e)),
        Value::List(items) => VarValue::List(
            items
                .iter()
                .map(|i| Some(Var::new(i.var_type()?, to_var_value(i)?)))
                .collect::<Option<Vec<_>>>()?,
        ),
        Value::Node { .. } | Value::Reference(_) | Value::Time(..) => return None,
    })
}

/// The task type is decided by the first identifier of the top-level chains: all must be
/// `stream` or all `batch`.
fn task_type(program: &Program) -> Result<(TaskType, Pos)> {
    let mut found: Option<(TaskType, Pos)> = None;
    for stmt in &program.stmts {
        let tree = match stmt {
            Stmt::Var { value, .. } => value,
            Stmt::Expr(t) => t,
            _ => continue,
        };
        let mut root = tree;
        while let TreeKind::Chain { lhs, .. } = &root.kind {
            root = lhs;
        }
        let ty = match &root.kind {
            TreeKind::Ident(name) if name == "stream" => TaskType::Stream,
            TreeKind::Ident(name) if name == "batch" => TaskType::Batch,
            _ => continue,
        };
        match found {
            None => found = Some((ty, root.pos)),
            Some((first, first_pos)) if first != ty => {
                return Err(Error::at(
                    root.pos,
                    format!(
                        "invalid task type: this chain starts with {} but the one at line {} \
                         char {} starts with {}; a task is either stream or batch",
                        ty.as_str(),
                        first_pos.line,
                        first_pos.col,
                        first.as_str()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    found.ok_or_else(|| {
        Error::at(
            Pos { line: 1, col: 1 },
            "invalid task type: no chain starts with stream or batch",
        )
    })
}

struct Compiler<'a> {
    vars: &'a Vars,
    scope: HashMap<String, Value>,
    nodes: Vec<Node>,
    dbrps: Vec<Dbrp>,
    /// For `declared_vars`: required vars without a value get a zero value instead of failing.
    lenient: bool,
}

impl<'a> Compiler<'a> {
    fn new(vars: &'a Vars, task_type: TaskType, pos: Pos, lenient: bool) -> Self {
        let source = Node {
            id: 0,
            kind: task_type.as_str().to_string(),
            args: Vec::new(),
            props: Vec::new(),
            parents: Vec::new(),
            pos,
        };
        let mut scope = HashMap::new();
        scope.insert(
            task_type.as_str().to_string(),
            Value::Node {
                id: 0,
                handler: None,
            },
        );
        Compiler {
            vars,
            scope,
            nodes: vec![source],
            dbrps: Vec::new(),
            lenient,
        }
    }

    fn node_name(&self, id: usize) -> String {
        let node = &self.nodes[id];
        crate::dot::node_name(&node.kind, id)
    }

    fn statement(&mut self, stmt: &Stmt) -> Result<()> {
        match stmt {
            Stmt::Var {
                name, value, pos, ..
            } => {
                self.check_new_name(name, *pos)?;
                let mut v = self.eval(value)?;
                if let Some(given) = self.vars.get(name)
                    && given.value != VarValue::Null
                {
                    let actual = v.var_type();
                    if actual != Some(given.ty) {
                        return Err(Error::at(
                            *pos,
                            format!(
                                "invalid type supplied for {name}, got {} exp {}",
                                given.ty,
                                actual.map_or("node", VarType::as_str)
                            ),
                        ));
                    }
                    v = self.value_of_var(name, given, *pos)?;
                }
                self.scope.insert(name.clone(), v);
            }
            Stmt::TypedVar {
                name,
                ty,
                ty_pos,
                pos,
                ..
            } => {
                self.check_new_name(name, *pos)?;
                let Some(ty) = VarType::from_decl(ty) else {
                    return Err(Error::at(
                        *ty_pos,
                        format!(
                            "invalid var type {ty:?}; expected one of int, float, bool, \
                             string, regex, duration, lambda, list, star"
                        ),
                    ));
                };
                let v = match self.vars.get(name) {
                    Some(given) if given.value != VarValue::Null => {
                        if given.ty != ty {
                            return Err(Error::at(
                                *pos,
                                format!(
                                    "invalid type supplied for {name}, got {} exp {ty}",
                                    given.ty
                                ),
                            ));
                        }
                        self.value_of_var(name, given, *pos)?
                    }
                    _ if self.lenient => zero_value(ty),
                    _ => {
                        return Err(Error::at(*pos, format!("missing value for var {name:?}.")));
                    }
                };
                self.scope.insert(name.clone(), v);
            }
            Stmt::Dbrp { db, rp, .. } => self.dbrps.push(Dbrp {
                db: db.clone(),
                rp: rp.clone(),
            }),
            Stmt::Expr(t) => {
                self.eval(t)?;
            }
        }
        Ok(())
    }

    fn check_new_name(&self, name: &str, pos: Pos) -> Result<()> {
        if self.scope.contains_key(name) {
            return Err(Error::at(
                pos,
                format!("attempted to redefine {name}, vars are immutable"),
            ));
        }
        Ok(())
    }

    /// A task var's value as a script value.
    fn value_of_var(&self, name: &str, var: &Var, pos: Pos) -> Result<Value> {
        Ok(match &var.value {
            VarValue::Null => zero_value(var.ty),
            VarValue::Bool(b) => Value::Bool(*b),
            VarValue::Int(i) => Value::Int(*i),
            VarValue::Float(f) => Value::Float(*f),
            VarValue::String(s) => Value::Str(s.clone()),
            VarValue::Regex(r) => Value::Regex(r.clone()),
            VarValue::Duration(d) => Value::Duration(*d),
            VarValue::Star => Value::Star,
            VarValue::Lambda(src) => {
                let tree = parse_lambda(src)
                    .map_err(|e| Error::at(pos, format!("invalid lambda in var {name}: {e}")))?;
                Value::Lambda(self.to_expr(&tree).map_err(|e| {
                    Error::at(pos, format!("invalid lambda in var {name}: {}", e.reason()))
                })?)
            }
            VarValue::List(items) => Value::List(
                items
                    .iter()
                    .map(|i| self.value_of_var(name, i, pos))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    fn lookup(&self, name: &str, pos: Pos) -> Result<&Value> {
        self.scope.get(name).ok_or_else(|| {
            let mut names: Vec<&str> = self.scope.keys().map(String::as_str).collect();
            names.sort_unstable();
            Error::at(
                pos,
                format!(
                    "name {name:?} is undefined. Names in scope: {}",
                    names.join(", ")
                ),
            )
        })
    }

    fn eval(&mut self, t: &Tree) -> Result<Value> {
        Ok(match &t.kind {
            TreeKind::Int { value, .. } => Value::Int(*value),
            TreeKind::Float(f) => Value::Float(*f),
            TreeKind::Duration { nanos, .. } => Value::Duration(*nanos),
            TreeKind::Str { value, .. } => Value::Str(value.clone()),
            TreeKind::Bool(b) => Value::Bool(*b),
            TreeKind::Regex(r) => Value::Regex(unescape_regex(r)),
            TreeKind::Star => Value::Star,
            TreeKind::Reference(r) => Value::Reference(r.clone()),
            TreeKind::Ident(name) => self.lookup(name, t.pos)?.clone(),
            TreeKind::Unary { op, operand } => {
                let v = self.eval(operand)?;
                match (op, v) {
                    (UnaryOp::Neg, Value::Int(i)) => Value::Int(i.wrapping_neg()),
                    (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
                    (UnaryOp::Neg, Value::Duration(d)) => Value::Duration(d.wrapping_neg()),
                    (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                    (op, v) => {
                        return Err(Error::at(
                            t.pos,
                            format!("invalid argument to '{}': {}", op.as_str(), v.type_name()),
                        ));
                    }
                }
            }
            TreeKind::Binary { op, lhs, rhs, .. } => {
                let l = self.eval(lhs)?;
                let r = self.eval(rhs)?;
                fold_binary(*op, l, r, t.pos)?
            }
            TreeKind::Lambda(body) => Value::Lambda(self.to_expr(body)?),
            TreeKind::List(items) => {
                Value::List(items.iter().map(|i| self.eval(i)).collect::<Result<_>>()?)
            }
            TreeKind::Func { name, args, .. } => {
                // Outside a chain only global functions exist; `time(length[, offset])` (a
                // query's group-by time dimension) is the only one.
                if name != "time" {
                    return Err(Error::at(
                        t.pos,
                        format!("no global function {name:?} defined"),
                    ));
                }
                if args.is_empty() || args.len() > 2 {
                    // Kapacitor's groupByTime(length, offset...) message.
                    return Err(Error::at(
                        t.pos,
                        format!("time() function expects 1 or 2 args, got {}", args.len()),
                    ));
                }
                let mut durs = [0i64; 2];
                for (i, a) in args.iter().enumerate() {
                    match self.eval(a)? {
                        Value::Duration(d) => durs[i] = d,
                        v => {
                            return Err(Error::at(
                                t.pos,
                                format!(
                                    "time() takes durations (length, optional offset), got {}",
                                    v.type_name()
                                ),
                            ));
                        }
                    }
                }
                Value::Time(durs[0], durs[1])
            }
            TreeKind::Chain { op, lhs, rhs } => {
                let target = self.eval(lhs)?;
                let Value::Node { id, handler } = target else {
                    return Err(Error::at(
                        t.pos,
                        format!(
                            "cannot use '{}' on a {}: only nodes have chaining and property methods",
                            op.as_str(),
                            target.type_name()
                        ),
                    ));
                };
                let (name, args) = match &rhs.kind {
                    TreeKind::Func { name, args, .. } => (name, args),
                    TreeKind::Ident(name) => {
                        return Err(Error::at(
                            rhs.pos,
                            format!(
                                "{name:?} needs parentheses: write '{}{name}()'",
                                op.as_str()
                            ),
                        ));
                    }
                    _ => return Err(Error::at(rhs.pos, "expected a method call")),
                };
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.eval(a)?);
                }
                // Kapacitor passes the items of a single list argument as the arguments.
                if values.len() == 1 && matches!(values[0], Value::List(_)) {
                    let Some(Value::List(items)) = values.pop() else {
                        unreachable!()
                    };
                    values = items;
                }
                match op {
                    ChainOp::Pipe => self.chain_method(id, name, values, rhs.pos)?,
                    ChainOp::Dot => self.property(id, handler, name, values, rhs.pos)?,
                    ChainOp::At => self.udf(id, name, values, rhs.pos)?,
                }
            }
        })
    }

    /// A lambda body with every var replaced by its value.
    fn to_expr(&self, t: &Tree) -> Result<Expr> {
        let pos = t.pos;
        Ok(match &t.kind {
            TreeKind::Int { value, .. } => Expr::Int(*value, pos),
            TreeKind::Float(f) => Expr::Float(*f, pos),
            TreeKind::Duration { nanos, .. } => Expr::Duration(*nanos, pos),
            TreeKind::Str { value, .. } => Expr::Str(value.clone(), pos),
            TreeKind::Bool(b) => Expr::Bool(*b, pos),
            TreeKind::Regex(r) => Expr::Regex(unescape_regex(r), pos),
            TreeKind::Star => Expr::Star(pos),
            TreeKind::Reference(r) => Expr::Reference(r.clone(), pos),
            TreeKind::Ident(name) => {
                let v = self.lookup(name, pos)?;
                value_to_expr(v, pos).ok_or_else(|| {
                    Error::at(
                        pos,
                        format!(
                            "{name} is a {} and cannot be used in a lambda",
                            v.type_name()
                        ),
                    )
                })?
            }
            TreeKind::Unary { op, operand } => Expr::Unary {
                op: *op,
                expr: Box::new(self.to_expr(operand)?),
                pos,
            },
            TreeKind::Binary { op, lhs, rhs, .. } => Expr::Binary {
                op: *op,
                lhs: Box::new(self.to_expr(lhs)?),
                rhs: Box::new(self.to_expr(rhs)?),
                pos,
            },
            TreeKind::Func {
                kind: FuncKind::Global,
                name,
                args,
                ..
            } => Expr::Call {
                name: name.clone(),
                args: args
                    .iter()
                    .map(|a| self.to_expr(a))
                    .collect::<Result<_>>()?,
                pos,
            },
            TreeKind::Lambda(body) => self.to_expr(body)?,
            TreeKind::List(items) => Expr::List(
                items
                    .iter()
                    .map(|a| self.to_expr(a))
                    .collect::<Result<_>>()?,
                pos,
            ),
            TreeKind::Func { .. } | TreeKind::Chain { .. } => {
                return Err(Error::at(
                    pos,
                    "a node chain cannot be used inside a lambda",
                ));
            }
        })
    }

    fn chain_method(
        &mut self,
        parent: usize,
        name: &str,
        args: Vec<Value>,
        pos: Pos,
    ) -> Result<Value> {
        let parent_kind = self.nodes[parent].kind.clone();
        let parent_spec = spec_for_kind(&parent_kind);
        let spec = catalog::node_spec(name);
        let allowed = spec.is_some() && parent_spec.is_none_or(|p| p.allows_chain(name));
        let Some(spec) = spec.filter(|_| allowed) else {
            let parent_name = self.node_name(parent);
            let msg = if spec.is_some() {
                let after = match parent_spec.map(|s| s.chains) {
                    Some(catalog::Chains::Only(list)) => list
                        .iter()
                        .map(|m| format!("|{m}()"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => "only |stats() and |deadman()".to_string(),
                };
                format!(
                    "no chaining method {name:?} on {parent_name}: {parent_kind} can be followed by {after}"
                )
            } else if parent_spec.and_then(|s| s.property(name)).is_some() {
                format!(
                    "no chaining method {name:?} on {parent_name}, but property does exist. \
                     Use '.' operator instead: 'node.{name}(..)'."
                )
            } else {
                let names = catalog::NODES.iter().map(|n| n.method);
                format!(
                    "no chaining method {name:?} on {parent_name}{}",
                    suggest(name, names)
                )
            };
            return Err(Error::at(pos, msg));
        };
        let id = self.nodes.len();
        let what = format!("|{name}() ({})", crate::dot::node_name(name, id));
        let args = self.check_args(spec.args, args, &what, pos)?;
        let mut parents = vec![parent];
        for a in &args {
            if let Arg::Node(n) = a {
                if parents.contains(n) {
                    return Err(Error::at(
                        pos,
                        format!(
                            "{what}: {} is already a parent of this node",
                            self.node_name(*n)
                        ),
                    ));
                }
                parents.push(*n);
            }
        }
        self.nodes.push(Node {
            id,
            kind: name.to_string(),
            args,
            props: Vec::new(),
            parents,
            pos,
        });
        Ok(Value::Node { id, handler: None })
    }

    fn udf(&mut self, parent: usize, name: &str, args: Vec<Value>, pos: Pos) -> Result<Value> {
        let id = self.nodes.len();
        let what = format!("@{name}()");
        let args = args
            .into_iter()
            .enumerate()
            .map(|(i, v)| convert_arg('x', v, i, &what, pos, &self.nodes))
            .collect::<Result<Vec<_>>>()?;
        self.nodes.push(Node {
            id,
            kind: format!("udf:{name}"),
            args,
            props: Vec::new(),
            parents: vec![parent],
            pos,
        });
        Ok(Value::Node { id, handler: None })
    }

    fn property(
        &mut self,
        id: usize,
        handler: Option<usize>,
        name: &str,
        args: Vec<Value>,
        pos: Pos,
    ) -> Result<Value> {
        let kind = self.nodes[id].kind.clone();
        let node_name = self.node_name(id);
        let Some(spec) = spec_for_kind(&kind) else {
            // UDF options are declared by the UDF process, not known here.
            let what = format!("{node_name}.{name}");
            let args = args
                .into_iter()
                .enumerate()
                .map(|(i, v)| convert_arg('x', v, i, &what, pos, &self.nodes))
                .collect::<Result<Vec<_>>>()?;
            self.nodes[id].props.push(Property {
                name: name.to_string(),
                args,
                props: Vec::new(),
                pos,
            });
            return Ok(Value::Node { id, handler: None });
        };
        if let Some(h) = handler {
            let handler_name = self.nodes[id].props[h].name.clone();
            let handler_props = spec
                .property(&handler_name)
                .and_then(|p| p.handler)
                .unwrap_or(&[]);
            if let Some(ps) = handler_props.iter().find(|p| p.name == name) {
                let what = format!("{node_name}.{handler_name}().{name}");
                let args = self.check_args(ps.args, args, &what, pos)?;
                self.nodes[id].props[h].props.push(Property {
                    name: name.to_string(),
                    args,
                    props: Vec::new(),
                    pos,
                });
                return Ok(Value::Node { id, handler });
            }
        }
        if let Some(ps) = spec.property(name) {
            let what = format!("{node_name}.{name}");
            let args = self.check_args(ps.args, args, &what, pos)?;
            let props = &mut self.nodes[id].props;
            props.push(Property {
                name: name.to_string(),
                args,
                props: Vec::new(),
                pos,
            });
            let handler = ps.handler.map(|_| props.len() - 1);
            return Ok(Value::Node { id, handler });
        }
        let msg = if spec.allows_chain(name) && catalog::node_spec(name).is_some() {
            format!(
                "no property method {name:?} on {node_name}, but chaining method does exist. \
                 Use '|' operator instead: 'node|{name}(..)'."
            )
        } else if let Some(owner) = spec.props.iter().find(|p| {
            p.handler
                .is_some_and(|hp| hp.iter().any(|x| x.name == name))
        }) {
            format!(
                "no property method {name:?} on {node_name}: it is a property of the \
                 .{}() handler and must follow it",
                owner.name
            )
        } else {
            let open = handler
                .and_then(|h| spec.property(&self.nodes[id].props[h].name))
                .and_then(|p| p.handler)
                .unwrap_or(&[]);
            let names = spec
                .props
                .iter()
                .chain(catalog::COMMON_PROPS)
                .chain(open)
                .map(|p| p.name);
            format!(
                "no property method {name:?} on {node_name}{}",
                suggest(name, names)
            )
        };
        Err(Error::at(pos, msg))
    }

    fn check_args(&self, sig: &str, args: Vec<Value>, what: &str, pos: Pos) -> Result<Vec<Arg>> {
        let slots = catalog::signature(sig);
        let count_error = |got: usize| {
            let min: usize = slots
                .iter()
                .filter(|s| matches!(s.repeat, Repeat::One | Repeat::OneOrMore))
                .count();
            let unbounded = slots
                .iter()
                .any(|s| matches!(s.repeat, Repeat::ZeroOrMore | Repeat::OneOrMore));
            let max = slots.len();
            let expected = if unbounded {
                format!("at least {min}")
            } else if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            let plural = if max == 1 || (unbounded && min <= 1) {
                ""
            } else {
                "s"
            };
            Error::at(
                pos,
                format!(
                    "{what} takes {expected} argument{plural} ({}), got {got}",
                    describe_signature(&slots)
                ),
            )
        };
        let n = args.len();
        let mut out = Vec::with_capacity(n);
        let mut it = args.into_iter().enumerate().peekable();
        for slot in &slots {
            match slot.repeat {
                Repeat::One => {
                    let Some((i, v)) = it.next() else {
                        return Err(count_error(n));
                    };
                    out.push(convert_arg(slot.ty, v, i, what, pos, &self.nodes)?);
                }
                Repeat::Optional => {
                    if let Some((i, v)) = it.next() {
                        out.push(convert_arg(slot.ty, v, i, what, pos, &self.nodes)?);
                    }
                }
                Repeat::ZeroOrMore | Repeat::OneOrMore => {
                    let before = out.len();
                    for (i, v) in it.by_ref() {
                        out.push(convert_arg(slot.ty, v, i, what, pos, &self.nodes)?);
                    }
                    if slot.repeat == Repeat::OneOrMore && out.len() == before {
                        return Err(count_error(n));
                    }
                }
            }
        }
        if it.peek().is_some() {
            return Err(count_error(n));
        }
        Ok(out)
    }

    /// Checks Kapacitor enforces once the whole pipeline is built (`validate()` of the nodes).
    fn validate(&self, task_type: TaskType) -> Result<()> {
        for node in &self.nodes {
            let name = self.node_name(node.id);
            let last = |prop: &str| node.props.iter().rev().find(|p| p.name == prop);
            match node.kind.as_str() {
                "join" => {
                    let names = last("as").map_or(0, |p| p.args.len());
                    if names != node.parents.len() {
                        return Err(Error::at(
                            node.pos,
                            format!(
                                "{name}: a call to join.as() is required to specify the output \
                                 stream prefixes, one per joined node ({} nodes, {names} names)",
                                node.parents.len()
                            ),
                        ));
                    }
                }
                "eval" => {
                    // Kapacitor only finds this when the task starts; at define time the
                    // error is cheaper to act on.
                    let as_ = last("as");
                    let names = as_.map_or(0, |p| p.args.len());
                    if names != node.args.len() {
                        return Err(Error::at(
                            as_.map_or(node.pos, |p| p.pos),
                            format!(
                                "{name}: must provide one name per expression via the 'As' \
                                 property ({} expressions, {names} names)",
                                node.args.len(),
                            ),
                        ));
                    }
                }
                "alert" | "deadman" => {
                    if let Some(f) = last("flapping") {
                        let num = |a: &Arg| match a {
                            Arg::Float(f) => *f,
                            _ => f64::NAN,
                        };
                        let (low, high) = (num(&f.args[0]), num(&f.args[1]));
                        if !(0.0..=1.0).contains(&low) || !(0.0..=1.0).contains(&high) {
                            return Err(Error::at(
                                f.pos,
                                format!(
                                    "alert flap thresholds are percentages and should be between \
                                     0 and 1, got low: {low}, high: {high}"
                                ),
                            ));
                        }
                        if low > high {
                            return Err(Error::at(
                                f.pos,
                                format!(
                                    "alert flap thresholds are percentages and low should be \
                                     less than high, got low: {low}, high: {high}"
                                ),
                            ));
                        }
                    }
                    if let Some(h) = last("history")
                        && matches!(h.args[0], Arg::Int(n) if n < 2)
                    {
                        return Err(Error::at(h.pos, "alert history count must be >= 2"));
                    }
                }
                _ => {}
            }
            crate::rules::check_node(node, &name, task_type)?;
        }
        Ok(())
    }
}

fn describe_signature(slots: &[ArgSlot]) -> String {
    if slots.is_empty() {
        return "none".into();
    }
    slots
        .iter()
        .map(|s| {
            let t = catalog::type_name(s.ty);
            match s.repeat {
                Repeat::One => t.to_string(),
                Repeat::Optional => format!("optional {t}"),
                Repeat::ZeroOrMore => format!("any number of {t}"),
                Repeat::OneOrMore => format!("one or more {t}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_value(v: &Value, nodes: &[Node]) -> String {
    match v {
        Value::Node { id, .. } => format!("node {}", crate::dot::node_name(&nodes[*id].kind, *id)),
        Value::Int(i) => format!("int {i}"),
        Value::Float(f) => format!("float {f}"),
        Value::Str(s) => format!("string {s:?}"),
        Value::Bool(b) => format!("bool {}", if *b { "TRUE" } else { "FALSE" }),
        Value::Duration(_) => "duration".into(),
        Value::Regex(r) => format!("regex /{r}/"),
        Value::Star => "*".into(),
        Value::Reference(r) => format!("reference \"{r}\""),
        Value::Lambda(_) => "lambda".into(),
        Value::List(_) => "list".into(),
        Value::Time(..) => "time()".into(),
    }
}

fn convert_arg(
    ty: char,
    v: Value,
    index: usize,
    what: &str,
    pos: Pos,
    nodes: &[Node],
) -> Result<Arg> {
    let arg = match (ty, v) {
        ('s' | 't' | 'g' | 'x', Value::Str(s)) => Arg::Str(s),
        ('i' | 'c' | 'x', Value::Int(i)) => Arg::Int(i),
        ('f', Value::Int(i)) => Arg::Float(i as f64),
        ('f' | 'x', Value::Float(f)) => Arg::Float(f),
        ('b' | 'x', Value::Bool(b)) => Arg::Bool(b),
        ('d' | 'c' | 'x', Value::Duration(d)) => Arg::Duration(d),
        ('l' | 'x', Value::Lambda(e)) => Arg::Lambda(e),
        ('r' | 'x', Value::Regex(r)) => Arg::Regex(r),
        ('t' | 'g' | 'x', Value::Star) => Arg::Star,
        // `time(10s)` travels as a lambda calling `time`, the dimension the query node reads;
        // an offset, when given, is its second argument.
        ('g', Value::Time(length, offset)) => Arg::Lambda(time_call(length, offset, pos)),
        ('n', Value::Node { id, .. }) => Arg::Node(id),
        ('x', Value::List(items)) => Arg::List(
            items
                .into_iter()
                .map(|i| convert_arg('x', i, index, what, pos, nodes))
                .collect::<Result<_>>()?,
        ),
        (_, Value::Reference(r)) if matches!(ty, 's' | 't' | 'g' | 'x') => {
            return Err(Error::at(
                pos,
                format!(
                    "invalid argument {} to {what}: \"{r}\" is a field reference, not a string; \
                     did you use double quotes instead of single quotes?",
                    index + 1
                ),
            ));
        }
        (ty, v) => {
            return Err(Error::at(
                pos,
                format!(
                    "invalid argument {} to {what}: expected {}, got {}",
                    index + 1,
                    catalog::type_name(ty),
                    describe_value(&v, nodes)
                ),
            ));
        }
    };
    Ok(arg)
}

fn value_to_expr(v: &Value, pos: Pos) -> Option<Expr> {
    Some(match v {
        Value::Int(i) => Expr::Int(*i, pos),
        Value::Float(f) => Expr::Float(*f, pos),
        Value::Str(s) => Expr::Str(s.clone(), pos),
        Value::Bool(b) => Expr::Bool(*b, pos),
        Value::Duration(d) => Expr::Duration(*d, pos),
        Value::Regex(r) => Expr::Regex(r.clone(), pos),
        Value::Star => Expr::Star(pos),
        Value::Reference(r) => Expr::Reference(r.clone(), pos),
        Value::Lambda(e) => e.clone(),
        Value::List(items) => Expr::List(
            items
                .iter()
                .map(|i| value_to_expr(i, pos))
                .collect::<Option<_>>()?,
            pos,
        ),
        Value::Time(length, offset) => time_call(*length, *offset, pos),
        Value::Node { .. } => return None,
    })
}

/// The `time(length[, offset])` call a group-by time dimension becomes; the offset is left
/// out when zero, so `time(10s)` keeps its one-argument form.
fn time_call(length: i64, offset: i64, pos: Pos) -> Expr {
    let mut args = vec![Expr::Duration(length, pos)];
    if offset != 0 {
        args.push(Expr::Duration(offset, pos));
    }
    Expr::Call {
        name: "time".into(),
        args,
        pos,
    }
}

fn zero_value(ty: VarType) -> Value {
    match ty {
        VarType::Bool => Value::Bool(false),
        VarType::Int => Value::Int(0),
        VarType::Float => Value::Float(0.0),
        VarType::String => Value::Str(String::new()),
        VarType::Regex => Value::Regex(String::new()),
        VarType::Duration => Value::Duration(0),
        VarType::Lambda => Value::Lambda(Expr::Bool(false, Pos::default())),
        VarType::List => Value::List(Vec::new()),
        VarType::Star => Value::Star,
    }
}

fn unescape_regex(literal: &str) -> String {
    literal.replace("\\/", "/")
}

/// Evaluates a binary operation between two constants (a `var` value outside a lambda), with
/// the type rules of Kapacitor's lambda evaluator.
fn fold_binary(op: BinaryOp, l: Value, r: Value, pos: Pos) -> Result<Value> {
    use BinaryOp::*;
    use Value::{Bool as B, Duration as D, Float as F, Int as I, Str as S};
    let cmp = |o: std::cmp::Ordering| -> Option<bool> {
        use std::cmp::Ordering as O;
        Some(match op {
            Eq => o == O::Equal,
            NotEq => o != O::Equal,
            Less => o == O::Less,
            LessEq => o != O::Greater,
            Greater => o == O::Greater,
            GreaterEq => o != O::Less,
            _ => return None,
        })
    };
    let div_zero = || Error::at(pos, "integer division by zero");
    let v = match (&l, &r) {
        (I(a), I(b)) => match op {
            Add => I(a.wrapping_add(*b)),
            Sub => I(a.wrapping_sub(*b)),
            Mul => I(a.wrapping_mul(*b)),
            Div => I(a.checked_div(*b).ok_or_else(div_zero)?),
            Mod => I(a.checked_rem(*b).ok_or_else(div_zero)?),
            _ => cmp(a.cmp(b))
                .map(B)
                .ok_or_else(|| mismatch(op, &l, &r, pos))?,
        },
        (F(a), F(b)) => match op {
            Add => F(a + b),
            Sub => F(a - b),
            Mul => F(a * b),
            Div => F(a / b),
            _ => a
                .partial_cmp(b)
                .and_then(cmp)
                .map(B)
                .ok_or_else(|| mismatch(op, &l, &r, pos))?,
        },
        (I(a), F(b)) | (F(b), I(a)) if cmp(std::cmp::Ordering::Equal).is_some() => {
            let (x, y) = if matches!(l, I(_)) {
                (*a as f64, *b)
            } else {
                (*b, *a as f64)
            };
            x.partial_cmp(&y)
                .and_then(cmp)
                .map(B)
                .ok_or_else(|| mismatch(op, &l, &r, pos))?
        }
        (D(a), D(b)) => match op {
            Add => D(a.wrapping_add(*b)),
            Sub => D(a.wrapping_sub(*b)),
            Div => I(a.checked_div(*b).ok_or_else(div_zero)?),
            _ => cmp(a.cmp(b))
                .map(B)
                .ok_or_else(|| mismatch(op, &l, &r, pos))?,
        },
        (D(a), I(b)) | (I(b), D(a)) if op == Mul => D(a.wrapping_mul(*b)),
        (D(a), F(b)) | (F(b), D(a)) if op == Mul => D((*a as f64 * b) as i64),
        (D(a), I(b)) if op == Div => D(a.checked_div(*b).ok_or_else(div_zero)?),
        (D(a), F(b)) if op == Div => D((*a as f64 / b) as i64),
        (S(a), S(b)) => match op {
            Add => S(format!("{a}{b}")),
            _ => cmp(a.cmp(b))
                .map(B)
                .ok_or_else(|| mismatch(op, &l, &r, pos))?,
        },
        (B(a), B(b)) => match op {
            And => B(*a && *b),
            Or => B(*a || *b),
            Eq => B(a == b),
            NotEq => B(a != b),
            _ => return Err(mismatch(op, &l, &r, pos)),
        },
        _ => return Err(mismatch(op, &l, &r, pos)),
    };
    Ok(v)
}

fn mismatch(op: BinaryOp, l: &Value, r: &Value, pos: Pos) -> Error {
    Error::at(
        pos,
        format!(
            "mismatched type to binary operator. got {} {} {}. see bool(), int(), float(), \
             string(), duration()",
            l.type_name(),
            op.as_str(),
            r.type_name()
        ),
    )
}

/// ` (did you mean "period"?)` when a known name is close to the unknown one.
fn suggest<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> String {
    let best = candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < name.len())
        .min();
    match best {
        Some((_, c)) => format!(" (did you mean {c:?}?)"),
        None => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
