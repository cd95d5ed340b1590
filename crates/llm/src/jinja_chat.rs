//! A small interpreter for the Jinja subset that GGUF chat templates (`tokenizer.chat_template`)
//! are written in, so a llama-family model's own template renders its prompt. It covers what
//! ChatML-like templates use: text, `{{ expr }}`, `{% if/elif/else/endif %}`,
//! `{% for x in list %}` with `loop.first/last/index/index0/length`, `{% set %}`, whitespace
//! control (`{%-`, `-%}`) and the `trim_blocks`/`lstrip_blocks` settings Hugging Face renders
//! with; expressions with string/number literals, `a.b`, `a['b']`, `a[0]`, `+`, `~`, `==`,
//! `!=`, `and`, `or`, `not`, `in`, `is (not) defined/none`, filters `trim`, `lower`, `upper`,
//! `length`, and `raise_exception(...)`. Anything else is a parse error, and the caller falls
//! back to a known format.

use std::collections::BTreeMap;

/// A value inside a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undefined,
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Undefined | Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    fn text(&self) -> String {
        match self {
            Value::Undefined => String::new(),
            Value::None => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => i.to_string(),
            Value::Str(s) => s.clone(),
            Value::List(_) | Value::Map(_) => format!("{self:?}"),
        }
    }

    /// A chat message `{role, content}`.
    pub fn message(role: &str, content: &str) -> Value {
        let mut m = BTreeMap::new();
        m.insert("role".into(), Value::Str(role.into()));
        m.insert("content".into(), Value::Str(content.into()));
        Value::Map(m)
    }
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(message.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Lit(Value),
    Var(String),
    Attr(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
    Filter(Box<Expr>, String),
    Not(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
    Is(Box<Expr>, String, bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Concat,
    Add,
    Eq,
    Ne,
    And,
    Or,
    In,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Output(Expr),
    If(Vec<(Expr, Vec<Node>)>, Vec<Node>),
    For(String, Expr, Vec<Node>),
    Set(String, Expr),
}

/// A parsed chat template.
#[derive(Debug, Clone, PartialEq)]
pub struct JinjaTemplate {
    nodes: Vec<Node>,
}

// ---- lexing the template into text / expression / statement pieces ----

#[derive(Debug)]
enum Piece {
    Text(String),
    Expr(String),
    Stmt(String),
}

fn pieces(source: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = source;
    let mut trim_next = false;
    let mut after_block = false;
    loop {
        let open = ["{{", "{%", "{#"]
            .iter()
            .filter_map(|o| rest.find(o).map(|i| (i, *o)))
            .min_by_key(|(i, _)| *i);
        let (text, tag) = match open {
            Some((i, o)) => (&rest[..i], Some(o)),
            None => (rest, None),
        };
        let mut text = text.to_string();
        if after_block && text.starts_with('\n') {
            text.remove(0); // trim_blocks
        }
        if trim_next {
            text = text.trim_start().to_string();
        }
        let Some(tag) = tag else {
            out.push(Piece::Text(text));
            return Ok(out);
        };
        let body_start = rest.find(tag).unwrap_or(0) + 2;
        let close = match tag {
            "{{" => "}}",
            "{%" => "%}",
            _ => "#}",
        };
        let Some(end) = rest[body_start..].find(close) else {
            return fail(format!("unclosed {tag}"));
        };
        let mut inner = &rest[body_start..body_start + end];
        if let Some(stripped) = inner.strip_prefix('-') {
            text = text.trim_end().to_string();
            inner = stripped;
        } else if tag == "{%" {
            // lstrip_blocks: spaces and tabs before a block tag on its own line go.
            let line_start = text.rfind('\n').map_or(0, |i| i + 1);
            if text[line_start..].chars().all(|c| c == ' ' || c == '\t') {
                text.truncate(line_start);
            }
        }
        trim_next = false;
        if let Some(stripped) = inner.strip_suffix('-') {
            trim_next = true;
            inner = stripped;
        }
        out.push(Piece::Text(text));
        match tag {
            "{{" => out.push(Piece::Expr(inner.trim().to_string())),
            "{%" => out.push(Piece::Stmt(inner.trim().to_string())),
            _ => {}
        }
        after_block = tag != "{{";
        rest = &rest[body_start + end + 2..];
    }
}

#[path = "jinja_expr.rs"]
mod expr;
use expr::{Parser, parse_expr};

// ---- statements into a tree ----

/// Parses nodes until one of `ends` (returned) or the end of input (None).
fn parse_nodes(
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
    ends: &[&str],
) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.next() {
        match piece {
            Piece::Text(t) => {
                if !t.is_empty() {
                    nodes.push(Node::Text(t));
                }
            }
            Piece::Expr(e) => nodes.push(Node::Output(parse_expr(&e)?)),
            Piece::Stmt(s) => {
                let keyword = s.split_whitespace().next().unwrap_or_default().to_string();
                if ends.contains(&keyword.as_str()) {
                    return Ok((nodes, Some(s)));
                }
                let rest = s[keyword.len()..].trim();
                match keyword.as_str() {
                    "if" => nodes.push(parse_if(rest, pieces)?),
                    "for" => {
                        let mut p = Parser::new(rest)?;
                        let var = p.ident()?;
                        p.expect_word("in", "expected `in` in for")?;
                        let iterable = p.expr()?;
                        p.done()?;
                        let (body, end) = parse_nodes(pieces, &["endfor"])?;
                        if end.is_none() {
                            return fail("missing endfor");
                        }
                        nodes.push(Node::For(var, iterable, body));
                    }
                    "set" => {
                        let mut p = Parser::new(rest)?;
                        let name = p.ident()?;
                        p.expect_sym("=")?;
                        let value = p.expr()?;
                        p.done()?;
                        nodes.push(Node::Set(name, value));
                    }
                    other => return fail(format!("unsupported statement {other:?}")),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse_if(
    condition: &str,
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
) -> Result<Node, TemplateError> {
    let mut branches = Vec::new();
    let mut condition = parse_expr(condition)?;
    loop {
        let (body, end) = parse_nodes(pieces, &["elif", "else", "endif"])?;
        branches.push((condition, body));
        let Some(end) = end else {
            return fail("missing endif");
        };
        if let Some(rest) = end.strip_prefix("elif") {
            condition = parse_expr(rest)?;
            continue;
        }
        if end.starts_with("else") {
            let (otherwise, end) = parse_nodes(pieces, &["endif"])?;
            if end.is_none() {
                return fail("missing endif");
            }
            return Ok(Node::If(branches, otherwise));
        }
        return Ok(Node::If(branches, Vec::new()));
    }
}

// ---- rendering ----

type Scope = BTreeMap<String, Value>;

fn eval(e: &Expr, scope: &Scope) -> Result<Value, TemplateError> {
    Ok(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Var(name) => scope.get(name).cloned().unwrap_or(Value::Undefined),
        Expr::Attr(base, name) => member(eval(base, scope)?, &Value::Str(name.clone())),
        Expr::Index(base, index) => member(eval(base, scope)?, &eval(index, scope)?),
        Expr::Call(name, args) => {
            if name == "raise_exception" {
                let message = match args.first() {
                    Some(a) => eval(a, scope)?.text(),
                    None => String::new(),
                };
                return fail(format!("the template raised: {message}"));
            }
            return fail(format!("unsupported function {name}"));
        }
        Expr::Filter(base, filter) => {
            let v = eval(base, scope)?;
            match filter.as_str() {
                "trim" => Value::Str(v.text().trim().to_string()),
                "lower" => Value::Str(v.text().to_lowercase()),
                "upper" => Value::Str(v.text().to_uppercase()),
                "length" => Value::Int(match &v {
                    Value::List(l) => l.len() as i64,
                    Value::Map(m) => m.len() as i64,
                    other => other.text().chars().count() as i64,
                }),
                other => return fail(format!("unsupported filter {other}")),
            }
        }
        Expr::Not(inner) => Value::Bool(!eval(inner, scope)?.truthy()),
        Expr::Is(inner, test, negated) => {
            let v = eval(inner, scope)?;
            let result = match test.as_str() {
                "defined" => v != Value::Undefined,
                "none" => v == Value::None,
                "string" => matches!(v, Value::Str(_)),
                other => return fail(format!("unsupported test {other}")),
            };
            Value::Bool(result != *negated)
        }
        Expr::Binary(left, op, right) => {
            let l = eval(left, scope)?;
            match op {
                Op::And => {
                    if !l.truthy() {
                        return Ok(l);
                    }
                    eval(right, scope)?
                }
                Op::Or => {
                    if l.truthy() {
                        return Ok(l);
                    }
                    eval(right, scope)?
                }
                _ => {
                    let r = eval(right, scope)?;
                    match op {
                        Op::Eq => Value::Bool(l == r),
                        Op::Ne => Value::Bool(l != r),
                        Op::Concat => Value::Str(l.text() + &r.text()),
                        Op::Add => match (&l, &r) {
                            (Value::Int(a), Value::Int(b)) => Value::Int(a + b),
                            _ => Value::Str(l.text() + &r.text()),
                        },
                        Op::In => Value::Bool(match &r {
                            Value::List(items) => items.contains(&l),
                            Value::Map(m) => m.contains_key(&l.text()),
                            other => other.text().contains(&l.text()),
                        }),
                        Op::And | Op::Or => Value::Undefined,
                    }
                }
            }
        }
    })
}

fn member(base: Value, key: &Value) -> Value {
    match (base, key) {
        (Value::Map(m), k) => m.get(&k.text()).cloned().unwrap_or(Value::Undefined),
        (Value::List(l), Value::Int(i)) => {
            let i = if *i < 0 { l.len() as i64 + i } else { *i };
            usize::try_from(i)
                .ok()
                .and_then(|i| l.get(i).cloned())
                .unwrap_or(Value::Undefined)
        }
        _ => Value::Undefined,
    }
}

fn render_nodes(nodes: &[Node], scope: &mut Scope, out: &mut String) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Output(e) => out.push_str(&eval(e, scope)?.text()),
            Node::Set(name, e) => {
                let v = eval(e, scope)?;
                scope.insert(name.clone(), v);
            }
            Node::If(branches, otherwise) => {
                let mut taken = false;
                for (condition, body) in branches {
                    if eval(condition, scope)?.truthy() {
                        render_nodes(body, scope, out)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    render_nodes(otherwise, scope, out)?;
                }
            }
            Node::For(var, iterable, body) => {
                let items = match eval(iterable, scope)? {
                    Value::List(items) => items,
                    Value::Undefined | Value::None => Vec::new(),
                    other => return fail(format!("cannot loop over {other:?}")),
                };
                let n = items.len();
                for (i, item) in items.into_iter().enumerate() {
                    let mut inner = scope.clone();
                    let mut info = BTreeMap::new();
                    info.insert("index0".to_string(), Value::Int(i as i64));
                    info.insert("index".to_string(), Value::Int(i as i64 + 1));
                    info.insert("first".to_string(), Value::Bool(i == 0));
                    info.insert("last".to_string(), Value::Bool(i + 1 == n));
                    info.insert("length".to_string(), Value::Int(n as i64));
                    inner.insert("loop".into(), Value::Map(info));
                    inner.insert(var.clone(), item);
                    render_nodes(body, &mut inner, out)?;
                }
            }
        }
    }
    Ok(())
}

impl JinjaTemplate {
    pub fn parse(source: &str) -> Result<JinjaTemplate, TemplateError> {
        let mut pieces = pieces(source)?.into_iter().peekable();
        let (nodes, end) = parse_nodes(&mut pieces, &[])?;
        if let Some(end) = end {
            return fail(format!("unexpected {end}"));
        }
        Ok(JinjaTemplate { nodes })
    }

    /// The prompt for one system and one user message, with the generation prompt.
    pub fn render_chat(
        &self,
        system: &str,
        user: &str,
        bos: &str,
        eos: &str,
    ) -> Result<String, TemplateError> {
        let mut scope = Scope::new();
        scope.insert(
            "messages".into(),
            Value::List(vec![
                Value::message("system", system),
                Value::message("user", user),
            ]),
        );
        scope.insert("add_generation_prompt".into(), Value::Bool(true));
        scope.insert("bos_token".into(), Value::Str(bos.into()));
        scope.insert("eos_token".into(), Value::Str(eos.into()));
        let mut out = String::new();
        render_nodes(&self.nodes, &mut scope, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "jinja_chat_tests.rs"]
mod tests;
