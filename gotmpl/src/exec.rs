//! Executor, following Go's `text/template/exec.go`.
//!
//! Values flowing through pipelines are [`Val`]s: borrowed from the data or the template where
//! possible, so that printing `{{ .Name }}` or `{{ index .Tags "host" }}` allocates nothing.

use std::fmt;
use std::rc::Rc;

use crate::ast::{Branch, Command, List, Node, Operand, Pipe};
use crate::error::Error;
use crate::funcs::{Arity, Builtin, FuncRef};
use crate::gofmt::print_value;
use crate::parse::go_quote;
use crate::template::Template;
use crate::value::{Kind, Map, Value};

/// Combined limit on control-structure nesting and `{{template}}` recursion during execution;
/// it keeps recursive templates from overflowing the stack (Go's own limit is 100000 frames
/// on a growable stack).
pub const MAX_EXEC_DEPTH: usize = 300;

static NIL: Value = Value::Nil;
static TRUE: Value = Value::Bool(true);
static FALSE: Value = Value::Bool(false);
static ZERO_BOOL: Value = Value::Bool(false);
static ZERO_INT: Value = Value::Int(0);
static ZERO_UINT: Value = Value::Uint(0);
static ZERO_FLOAT: Value = Value::Float(0.0);
static ZERO_STR: Value = Value::Str(String::new());
static ZERO_DURATION: Value = Value::Duration(0);
static ZERO_MAP: Value = Value::Map(Map::empty(Kind::Any));
static ZERO_SLICE: Value = Value::Slice(Vec::new());

/// Go's zero value for a map element kind, without allocating.
pub(crate) fn zero_of(kind: Kind) -> &'static Value {
    match kind {
        Kind::Any => &NIL,
        Kind::Bool => &ZERO_BOOL,
        Kind::Int => &ZERO_INT,
        Kind::Uint => &ZERO_UINT,
        Kind::Float => &ZERO_FLOAT,
        Kind::Str => &ZERO_STR,
        Kind::Duration => &ZERO_DURATION,
        Kind::Map => &ZERO_MAP,
        Kind::Slice => &ZERO_SLICE,
    }
}

/// A value during execution.
#[derive(Clone, Debug)]
pub enum Val<'a> {
    /// Go's invalid `reflect.Value`: a missing map key or nil data. Prints as `<no value>`.
    Missing,
    Ref(&'a Value),
    Owned(Rc<Value>),
}

impl<'a> Val<'a> {
    pub fn get(&self) -> &Value {
        match self {
            Val::Missing => &NIL,
            Val::Ref(v) => v,
            Val::Owned(v) => v,
        }
    }

    pub fn owned(v: Value) -> Val<'a> {
        Val::Owned(Rc::new(v))
    }

    pub fn bool(b: bool) -> Val<'a> {
        Val::Ref(if b { &TRUE } else { &FALSE })
    }

    pub fn is_true(&self) -> bool {
        self.get().is_true()
    }

    /// A part of this value (field, map entry, element): borrowed when this value is borrowed,
    /// cloned out of an owned value otherwise.
    pub fn project<F>(&self, f: F) -> Option<Val<'a>>
    where
        F: for<'x> Fn(&'x Value) -> Option<&'x Value>,
    {
        match self {
            Val::Missing => None,
            Val::Ref(v) => f(v).map(Val::Ref),
            Val::Owned(v) => f(v).map(|p| Val::owned(p.clone())),
        }
    }

    /// Go's pipeline step "if the object has type interface{}, dig down one level": a nil
    /// interface becomes an invalid value.
    fn dig(self) -> Val<'a> {
        if matches!(self.get(), Value::Nil) {
            Val::Missing
        } else {
            self
        }
    }
}

/// Evaluated call arguments, inline for the usual handful so calls do not allocate.
enum Args<'a> {
    Inline([Val<'a>; 4], usize),
    Heap(Vec<Val<'a>>),
}

impl<'a> Args<'a> {
    fn with_capacity(n: usize) -> Args<'a> {
        if n <= 4 {
            Args::Inline([const { Val::Missing }; 4], 0)
        } else {
            Args::Heap(Vec::with_capacity(n))
        }
    }

    fn push(&mut self, v: Val<'a>) {
        match self {
            Args::Inline(a, n) if *n < a.len() => {
                a[*n] = v;
                *n += 1;
            }
            Args::Inline(a, n) => {
                let mut vec: Vec<Val<'a>> = a[..*n].to_vec();
                vec.push(v);
                *self = Args::Heap(vec);
            }
            Args::Heap(v2) => v2.push(v),
        }
    }

    fn as_slice(&self) -> &[Val<'a>] {
        match self {
            Args::Inline(a, n) => &a[..*n],
            Args::Heap(v) => v,
        }
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// The node an error is reported at (Go's `s.at(node)`).
#[derive(Clone, Copy)]
enum At<'a> {
    Op(&'a Operand),
    Cmd(&'a Command),
    Pipe(&'a Pipe),
    Template(usize, &'a str),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Op(o) => o.pos(),
            At::Cmd(c) => c.pos,
            At::Pipe(p) => p.pos,
            At::Template(pos, _) => *pos,
        }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Op(o) => write!(f, "{o}"),
            At::Cmd(c) => write!(f, "{c}"),
            At::Pipe(p) => write!(f, "{p}"),
            At::Template(_, name) => write!(f, "{{{{template {}}}}}", go_quote(name)),
        }
    }
}

type EResult<T> = Result<T, Error>;

pub(crate) struct Exec<'a, 'o> {
    tmpl: &'a Template,
    out: &'o mut String,
    /// `$`: the data the current template was invoked with. Kept out of `vars` so that an
    /// execution that declares no variables does not allocate.
    dollar: Val<'a>,
    vars: Vec<(&'a str, Val<'a>)>,
    depth: usize,
    executing: &'a str,
    scratch: String,
}

pub(crate) fn execute<'a>(tmpl: &'a Template, out: &mut String, data: &'a Value) -> EResult<()> {
    // Go's Execute passes the data as reflect.ValueOf(data): nil data is an invalid value.
    let dot = if matches!(data, Value::Nil) {
        Val::Missing
    } else {
        Val::Ref(data)
    };
    let mut e = Exec {
        tmpl,
        out,
        dollar: dot.clone(),
        vars: Vec::new(),
        depth: 0,
        executing: tmpl.name(),
        scratch: String::new(),
    };
    e.walk(&dot, tmpl.root())?;
    Ok(())
}

impl<'a> Exec<'a, '_> {
    fn error(&self, at: At<'_>, msg: String) -> Error {
        Error::exec(
            self.tmpl.name(),
            self.tmpl.source(),
            self.executing,
            Some(at.pos()),
            Some(at.to_string()),
            msg,
        )
    }

    fn walk(&mut self, dot: &Val<'a>, list: &'a List) -> EResult<Flow> {
        for node in list {
            let flow = match node {
                Node::Text(t) => {
                    self.out.push_str(t);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    // A declaration prints nothing; its variables stay in scope until the
                    // enclosing {{end}}.
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.print(pipe, &v);
                    }
                    Flow::Normal
                }
                Node::If(b) => self.walk_if_with(dot, b, false)?,
                Node::With(b) => self.walk_if_with(dot, b, true)?,
                Node::Range(b) => self.walk_range(dot, b)?,
                Node::Template { pos, name, pipe } => {
                    self.walk_template(dot, *pos, name, pipe.as_ref())?;
                    Flow::Normal
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn enter(&mut self, at: At<'_>) -> EResult<()> {
        self.depth += 1;
        if self.depth > MAX_EXEC_DEPTH {
            return Err(self.error(
                at,
                format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})"),
            ));
        }
        Ok(())
    }

    fn print(&mut self, pipe: &Pipe, v: &Val<'a>) {
        if !self.tmpl.is_html() {
            match v {
                Val::Missing => self.out.push_str("<no value>"),
                v => print_value(self.out, v.get()),
            }
            return;
        }
        // html/template: the output of a pipeline ending in `html` is already escaped.
        let ends_in_html = pipe.cmds.last().is_some_and(|c| {
            matches!(
                c.args.first(),
                Some(Operand::Function {
                    func: FuncRef::Builtin(Builtin::Html),
                    ..
                })
            )
        });
        match v.get() {
            // html/template's stringify skips nil arguments.
            Value::Nil => {}
            Value::Str(s) if ends_in_html => self.out.push_str(s),
            Value::Str(s) => crate::escape::html_template_escape(self.out, s),
            other => {
                self.scratch.clear();
                print_value(&mut self.scratch, other);
                crate::escape::html_template_escape(self.out, &self.scratch);
            }
        }
    }

    fn walk_if_with(&mut self, dot: &Val<'a>, b: &'a Branch, with: bool) -> EResult<Flow> {
        self.enter(At::Pipe(&b.pipe))?;
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let flow = if val.is_true() {
            if with {
                self.walk(&val, &b.list)?
            } else {
                self.walk(dot, &b.list)?
            }
        } else if let Some(else_list) = &b.else_list {
            self.walk(dot, else_list)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Val<'a>, b: &'a Branch) -> EResult<Flow> {
        self.enter(At::Pipe(&b.pipe))?;
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let ran = match &val {
            Val::Missing => false,
            Val::Ref(v) => self.range_over(b, v, Val::Ref)?,
            Val::Owned(rc) => {
                let rc = Rc::clone(rc);
                self.range_over(b, &rc, |v| Val::owned(v.clone()))?
            }
        };
        if !ran && let Some(else_list) = &b.else_list {
            self.walk(dot, else_list)?;
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Flow::Normal)
    }

    /// Runs the range body over `coll`; returns whether there was at least one iteration.
    fn range_over<'v>(
        &mut self,
        b: &'a Branch,
        coll: &'v Value,
        wrap: impl Fn(&'v Value) -> Val<'a>,
    ) -> EResult<bool> {
        let at = At::Pipe(&b.pipe);
        let two = b.pipe.decl.len() > 1;
        match coll {
            Value::Slice(items) => {
                for (i, item) in items.iter().enumerate() {
                    let index = if two {
                        Val::owned(Value::Int(i as i64))
                    } else {
                        Val::Missing
                    };
                    if self.one_iteration(b, index, wrap(item))? {
                        break;
                    }
                }
                Ok(!items.is_empty())
            }
            Value::Map(m) => {
                for (k, item) in m.iter() {
                    let key = if two {
                        Val::owned(Value::Str(k.clone()))
                    } else {
                        Val::Missing
                    };
                    if self.one_iteration(b, key, wrap(item))? {
                        break;
                    }
                }
                Ok(!m.is_empty())
            }
            // Go 1.22: range over an integer.
            Value::Int(n) => {
                if two {
                    return Err(self.error(
                        at,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                for i in 0..(*n).max(0) {
                    let v = Val::owned(Value::Int(i));
                    if self.one_iteration(b, v.clone(), v)? {
                        break;
                    }
                }
                Ok(*n > 0)
            }
            Value::Nil => Ok(false),
            other => {
                let mut s = String::new();
                print_value(&mut s, other);
                Err(self.error(at, format!("range can't iterate over {s}")))
            }
        }
    }

    /// Returns true when the body hit `{{break}}`.
    fn one_iteration(&mut self, b: &'a Branch, index: Val<'a>, elem: Val<'a>) -> EResult<bool> {
        let decl = &b.pipe.decl;
        let at = At::Pipe(&b.pipe);
        let top = self.vars.len();
        if !decl.is_empty() {
            if b.pipe.is_assign {
                let (first, v) = if decl.len() > 1 {
                    (&decl[0], index.clone())
                } else {
                    (&decl[0], elem.clone())
                };
                self.set_var(first, v, at)?;
                if decl.len() > 1 {
                    self.set_var(&decl[1], elem.clone(), at)?;
                }
            } else {
                // Lexically the last variable is on top of the stack and gets the element.
                self.vars[top - 1].1 = elem.clone();
                if decl.len() > 1 {
                    self.vars[top - 2].1 = index;
                }
            }
        }
        let flow = self.walk(&elem, &b.list)?;
        self.vars.truncate(top);
        Ok(matches!(flow, Flow::Break))
    }

    fn walk_template(
        &mut self,
        dot: &Val<'a>,
        pos: usize,
        name: &'a str,
        pipe: Option<&'a Pipe>,
    ) -> EResult<()> {
        let at = At::Template(pos, name);
        let Some(body) = self.tmpl.lookup(name) else {
            return Err(self.error(at, format!("template {} not defined", go_quote(name))));
        };
        self.enter(at)?;
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Val::Missing,
        };
        // Template invocations inherit no variables.
        let saved_vars = std::mem::take(&mut self.vars);
        let saved_dollar = std::mem::replace(&mut self.dollar, new_dot.clone());
        let saved_name = std::mem::replace(&mut self.executing, name);
        let r = self.walk(&new_dot, body);
        self.vars = saved_vars;
        self.dollar = saved_dollar;
        self.executing = saved_name;
        self.depth -= 1;
        r.map(|_| ())
    }

    fn set_var(&mut self, name: &str, v: Val<'a>, at: At<'_>) -> EResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None if name == "$" => {
                self.dollar = v;
                Ok(())
            }
            None => Err(self.error(at, format!("undefined variable: {name}"))),
        }
    }

    fn var_value(&self, name: &str, at: At<'_>) -> EResult<Val<'a>> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None if name == "$" => Ok(self.dollar.clone()),
            None => Err(self.error(at, format!("undefined variable: {name}"))),
        }
    }

    fn eval_pipeline(&mut self, dot: &Val<'a>, pipe: &'a Pipe) -> EResult<Val<'a>> {
        let mut value: Option<Val<'a>> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(v.dig());
        }
        let value = value.unwrap_or(Val::Missing);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), At::Pipe(pipe))?;
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, cmd: &'a Command, has_final: bool) -> EResult<()> {
        if cmd.args.len() > 1 || has_final {
            return Err(self.error(
                At::Op(&cmd.args[0]),
                format!("can't give argument to non-function {}", cmd.args[0]),
            ));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Val<'a>,
        cmd: &'a Command,
        final_: Option<Val<'a>>,
    ) -> EResult<Val<'a>> {
        let first = &cmd.args[0];
        match first {
            Operand::Field { idents, .. } => {
                self.eval_field_chain(dot, dot.clone(), first, idents, &cmd.args, final_)
            }
            Operand::Chain { node, fields, .. } => {
                if let Operand::Nil(_) = node.as_ref() {
                    return Err(self.error(
                        At::Op(first),
                        format!("indirection through explicit nil in {first}"),
                    ));
                }
                let recv = self.eval_arg(dot, node)?;
                self.eval_field_chain(dot, recv, first, fields, &cmd.args, final_)
            }
            Operand::Function { .. } => {
                self.eval_function(dot, first, At::Cmd(cmd), &cmd.args, final_)
            }
            Operand::Pipe(p) => {
                self.not_a_function(cmd, final_.is_some())?;
                self.eval_nested_pipeline(dot, p)
            }
            Operand::Variable { idents, .. } => {
                let v = self.var_value(&idents[0], At::Op(first))?;
                if idents.len() == 1 {
                    self.not_a_function(cmd, final_.is_some())?;
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, first, &idents[1..], &cmd.args, final_)
            }
            Operand::Literal { value, .. } => {
                self.not_a_function(cmd, final_.is_some())?;
                Ok(Val::Ref(value))
            }
            Operand::Number { .. } => {
                self.not_a_function(cmd, final_.is_some())?;
                self.ideal_constant(first)
            }
            Operand::Dot(_) => {
                self.not_a_function(cmd, final_.is_some())?;
                Ok(dot.clone())
            }
            Operand::Nil(_) => {
                self.not_a_function(cmd, final_.is_some())?;
                Err(self.error(At::Op(first), "nil is not a command".into()))
            }
        }
    }

    fn eval_nested_pipeline(&mut self, dot: &Val<'a>, p: &'a Pipe) -> EResult<Val<'a>> {
        self.enter(At::Pipe(p))?;
        let r = self.eval_pipeline(dot, p);
        self.depth -= 1;
        r
    }

    fn ideal_constant(&self, op: &'a Operand) -> EResult<Val<'a>> {
        match op {
            Operand::Number { value: Some(v), .. } => Ok(Val::Ref(v)),
            Operand::Number { text, .. } => {
                Err(self.error(At::Op(op), format!("{text} overflows int")))
            }
            _ => Ok(Val::Missing),
        }
    }

    /// Evaluates an argument (Go's `evalArg` for an `interface{}` parameter).
    fn eval_arg(&mut self, dot: &Val<'a>, op: &'a Operand) -> EResult<Val<'a>> {
        match op {
            Operand::Dot(_) => Ok(dot.clone()),
            Operand::Nil(_) => Ok(Val::Ref(&NIL)),
            Operand::Field { idents, .. } => {
                self.eval_field_chain(dot, dot.clone(), op, idents, &[], None)
            }
            Operand::Variable { idents, .. } => {
                let v = self.var_value(&idents[0], At::Op(op))?;
                if idents.len() == 1 {
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, op, &idents[1..], &[], None)
            }
            Operand::Pipe(p) => self.eval_nested_pipeline(dot, p),
            Operand::Function { .. } => self.eval_function(dot, op, At::Op(op), &[], None),
            Operand::Chain { node, fields, .. } => {
                if let Operand::Nil(_) = node.as_ref() {
                    return Err(self.error(
                        At::Op(op),
                        format!("indirection through explicit nil in {op}"),
                    ));
                }
                let recv = self.eval_arg(dot, node)?;
                self.eval_field_chain(dot, recv, op, fields, &[], None)
            }
            Operand::Literal { value, .. } => Ok(Val::Ref(value)),
            Operand::Number { .. } => self.ideal_constant(op),
        }
    }

    fn eval_field_chain(
        &mut self,
        dot: &Val<'a>,
        mut receiver: Val<'a>,
        node: &'a Operand,
        idents: &'a [String],
        args: &'a [Operand],
        final_: Option<Val<'a>>,
    ) -> EResult<Val<'a>> {
        let n = idents.len();
        for ident in &idents[..n - 1] {
            receiver = self.eval_field(dot, ident, node, &[], None, receiver)?;
        }
        self.eval_field(dot, &idents[n - 1], node, args, final_, receiver)
    }

    /// `.Name` on a struct, map, time or duration. `args` are the command's words (the first is
    /// the field itself), so more than one means the field was given arguments.
    fn eval_field(
        &mut self,
        dot: &Val<'a>,
        name: &'a str,
        node: &'a Operand,
        args: &'a [Operand],
        final_: Option<Val<'a>>,
        receiver: Val<'a>,
    ) -> EResult<Val<'a>> {
        if let Val::Missing = receiver {
            return Ok(Val::Missing);
        }
        let at = At::Op(node);
        let has_args = args.len() > 1 || final_.is_some();
        match receiver.get() {
            Value::Nil => {
                Err(self.error(at, format!("nil pointer evaluating interface {{}}.{name}")))
            }
            Value::Struct(_) => {
                let found = receiver.project(|v| match v {
                    Value::Struct(s) => s.get(name),
                    _ => None,
                });
                match found {
                    Some(_) if has_args => Err(self.error(
                        at,
                        format!("{name} has arguments but cannot be invoked as function"),
                    )),
                    Some(v) => Ok(v),
                    None => Err(self.cant_evaluate(at, name, receiver.get())),
                }
            }
            Value::Map(_) => {
                if has_args {
                    return Err(self.error(at, format!("{name} is not a method but has arguments")));
                }
                Ok(receiver
                    .project(|v| match v {
                        Value::Map(m) => m.get(name),
                        _ => None,
                    })
                    .unwrap_or(Val::Missing))
            }
            recv @ (Value::Time(_) | Value::Duration(_)) => {
                let recv = recv.clone();
                let Some(arity) = crate::methods::arity(&recv, name) else {
                    return Err(self.cant_evaluate(at, name, &recv));
                };
                let mut argv = Vec::with_capacity(args.len());
                for a in args.iter().skip(1) {
                    argv.push(self.eval_arg(dot, a)?);
                }
                if let Some(f) = final_ {
                    argv.push(f);
                }
                if argv.len() != arity {
                    return Err(self.error(
                        at,
                        format!(
                            "wrong number of args for {name}: want {arity} got {}",
                            argv.len()
                        ),
                    ));
                }
                let refs: Vec<&Value> = argv.iter().map(Val::get).collect();
                crate::methods::call(&recv, name, &refs)
                    .map(Val::owned)
                    .map_err(|e| self.error(at, format!("error calling {name}: {e}")))
            }
            other => Err(self.cant_evaluate(at, name, other)),
        }
    }

    fn cant_evaluate(&self, at: At<'_>, name: &str, v: &Value) -> Error {
        self.error(
            at,
            format!("can't evaluate field {name} in type {}", v.go_type()),
        )
    }

    /// Calls a function. `at` is where call errors are reported (the whole command, or the
    /// identifier when the function is an argument); `words` are the command's words, the
    /// function name first.
    fn eval_function(
        &mut self,
        dot: &Val<'a>,
        ident: &'a Operand,
        at: At<'a>,
        words: &'a [Operand],
        final_: Option<Val<'a>>,
    ) -> EResult<Val<'a>> {
        let Operand::Function { name, func, .. } = ident else {
            return Ok(Val::Missing);
        };
        let args = words.get(1..).unwrap_or_default();
        let num_in = args.len() + usize::from(final_.is_some());
        match func {
            FuncRef::Builtin(b @ (Builtin::And | Builtin::Or)) => {
                if num_in == 0 {
                    return Err(self.error(
                        At::Op(ident),
                        format!("wrong number of args for {name}: want at least 1 got 0"),
                    ));
                }
                let want = *b == Builtin::Or;
                let mut v = Val::Missing;
                for a in args {
                    v = self.eval_arg(dot, a)?;
                    if v.is_true() == want {
                        return Ok(v);
                    }
                }
                Ok(final_.unwrap_or(v))
            }
            FuncRef::Builtin(b) => {
                match b.arity() {
                    Arity::Exactly(n) if num_in != n => {
                        return Err(self.error(
                            At::Op(ident),
                            format!("wrong number of args for {name}: want {n} got {num_in}"),
                        ));
                    }
                    Arity::AtLeast(n) if num_in < n => {
                        return Err(self.error(
                            At::Op(ident),
                            format!(
                                "wrong number of args for {name}: want at least {n} got {}",
                                args.len()
                            ),
                        ));
                    }
                    _ => {}
                }
                let mut argv = Args::with_capacity(num_in);
                for (i, a) in args.iter().enumerate() {
                    if i == 0 && *b == Builtin::Printf {
                        argv.push(self.eval_string_arg(dot, a)?);
                    } else {
                        argv.push(self.eval_arg(dot, a)?);
                    }
                }
                if let Some(f) = final_ {
                    if argv.is_empty() && *b == Builtin::Printf {
                        self.check_string(At::Op(ident), &f)?;
                    }
                    argv.push(f);
                }
                b.call(argv.as_slice())
                    .map_err(|e| self.error(at, format!("error calling {name}: {e}")))
            }
            FuncRef::Custom(f) => {
                if let Some(n) = f.arity()
                    && num_in != n
                {
                    return Err(self.error(
                        At::Op(ident),
                        format!("wrong number of args for {name}: want {n} got {num_in}"),
                    ));
                }
                let mut argv: Vec<Val<'a>> = Vec::with_capacity(num_in);
                for a in args {
                    argv.push(self.eval_arg(dot, a)?);
                }
                if let Some(fv) = final_ {
                    argv.push(fv);
                }
                let refs: Vec<&Value> = argv.iter().map(Val::get).collect();
                f.call(&refs)
                    .map(Val::owned)
                    .map_err(|e| self.error(at, format!("error calling {name}: {e}")))
            }
        }
    }

    /// An argument for a `string` parameter (printf's format), with Go's type errors.
    fn eval_string_arg(&mut self, dot: &Val<'a>, op: &'a Operand) -> EResult<Val<'a>> {
        match op {
            Operand::Literal {
                value: Value::Str(_),
                ..
            } => self.eval_arg(dot, op),
            Operand::Literal { .. } | Operand::Number { .. } | Operand::Nil(_) => {
                Err(self.error(At::Op(op), format!("expected string; found {op}")))
            }
            _ => {
                let v = self.eval_arg(dot, op)?;
                self.check_string(At::Op(op), &v)?;
                Ok(v)
            }
        }
    }

    fn check_string(&self, at: At<'_>, v: &Val<'a>) -> EResult<()> {
        match v {
            Val::Missing => Err(self.error(at, "invalid value; expected string".into())),
            v => match v.get() {
                Value::Str(_) => Ok(()),
                Value::Nil => Err(self.error(at, "invalid value; expected string".into())),
                other => Err(self.error(
                    at,
                    format!(
                        "wrong type for value; expected string; got {}",
                        other.go_type()
                    ),
                )),
            },
        }
    }
}
