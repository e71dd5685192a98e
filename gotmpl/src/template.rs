//! The public entry point: parse once, execute per event.

use std::sync::Arc;

use crate::ast::{List, Node, Tree};
use crate::error::Error;
use crate::funcs::{Func, FuncMap, FuncResult};
use crate::value::Value;

/// A parsed template, ready to be executed any number of times (it is `Send + Sync`, so one
/// parse can serve all threads).
#[derive(Debug)]
pub struct Template {
    name: String,
    source: String,
    html: bool,
    root: List,
    defs: Vec<(String, Arc<List>)>,
}

/// Options for parsing: `html/template` mode and extra functions.
#[derive(Debug, Clone)]
pub struct Builder {
    name: String,
    html: bool,
    funcs: FuncMap,
}

impl Builder {
    /// `html/template` mode: every value printed by an action is HTML-escaped (text context).
    pub fn html(mut self, on: bool) -> Builder {
        self.html = on;
        self
    }

    /// Adds the functions of `funcs` (they shadow builtins of the same name).
    pub fn funcs(mut self, funcs: &FuncMap) -> Builder {
        self.funcs.extend(funcs);
        self
    }

    /// Adds one function.
    pub fn func(
        mut self,
        name: impl Into<String>,
        f: impl Fn(&[&Value]) -> FuncResult + Send + Sync + 'static,
    ) -> Builder {
        self.funcs.insert_func(name, Func::new(f));
        self
    }

    pub fn parse(self, src: &str) -> Result<Template, Error> {
        let Tree { mut root, mut defs } = crate::parse::parse(&self.name, src, &self.funcs)?;
        if self.html {
            strip_comments(&mut root);
            for (_, list) in &mut defs {
                if let Some(list) = Arc::get_mut(list) {
                    strip_comments(list);
                }
            }
        }
        Ok(Template {
            name: self.name,
            source: src.to_owned(),
            html: self.html,
            root,
            defs,
        })
    }
}

fn strip_comments(list: &mut List) {
    for node in list {
        match node {
            Node::Text(t) => {
                if let Some(stripped) = crate::escape::strip_html_comments(t) {
                    *t = stripped;
                }
            }
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                strip_comments(&mut b.list);
                if let Some(e) = &mut b.else_list {
                    strip_comments(e);
                }
            }
            _ => {}
        }
    }
}

impl Template {
    /// A `text/template` with Go's builtin functions, like Go's `template.New(name).Parse(src)`.
    pub fn parse(name: &str, src: &str) -> Result<Template, Error> {
        Template::builder(name).parse(src)
    }

    /// An `html/template` with Kapacitor's `json` and `jsonCompact` functions, as Kapacitor
    /// parses `.details()`.
    pub fn parse_html(name: &str, src: &str) -> Result<Template, Error> {
        Template::builder(name)
            .html(true)
            .funcs(&FuncMap::kapacitor())
            .parse(src)
    }

    pub fn builder(name: &str) -> Builder {
        Builder {
            name: name.to_owned(),
            html: false,
            funcs: FuncMap::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn is_html(&self) -> bool {
        self.html
    }

    pub(crate) fn root(&self) -> &List {
        &self.root
    }

    /// A template defined with `{{define}}` or `{{block}}`; the template's own name refers to
    /// its main body.
    pub(crate) fn lookup(&self, name: &str) -> Option<&List> {
        if let Some((_, l)) = self.defs.iter().find(|(n, _)| n == name) {
            return Some(l);
        }
        (name == self.name).then_some(&self.root)
    }

    /// Executes the template against `data` and returns the output.
    pub fn execute(&self, data: &Value) -> Result<String, Error> {
        let mut out = String::with_capacity(self.source.len() + 32);
        self.execute_to(&mut out, data)?;
        Ok(out)
    }

    /// Executes the template, appending the output to `out` (reuse one buffer across events to
    /// avoid allocating). On error `out` is left as it was before the call.
    pub fn execute_to(&self, out: &mut String, data: &Value) -> Result<(), Error> {
        let start = out.len();
        let r = crate::exec::execute(self, out, data);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }
}
