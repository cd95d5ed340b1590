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

// ---- expression tokens and parser ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Int(i64),
    Ident(String),
    Sym(&'static str),
}

fn tokens(src: &str) -> Result<Vec<Tok>, TemplateError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                    s.push(match chars[i] {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                } else {
                    s.push(chars[i]);
                }
                i += 1;
            }
            if i >= chars.len() {
                return fail("unterminated string");
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let n: String = chars[start..i].iter().collect();
            out.push(Tok::Int(
                n.parse().map_err(|_| TemplateError("bad number".into()))?,
            ));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = match two.as_str() {
                "==" => Some("=="),
                "!=" => Some("!="),
                _ => None,
            };
            if let Some(sym) = sym {
                out.push(Tok::Sym(sym));
                i += 2;
                continue;
            }
            let sym = match c {
                '(' => "(",
                ')' => ")",
                '[' => "[",
                ']' => "]",
                '.' => ".",
                ',' => ",",
                '+' => "+",
                '~' => "~",
                '|' => "|",
                '=' => "=",
                _ => return fail(format!("unsupported character {c:?}")),
            };
            out.push(Tok::Sym(sym));
            i += 1;
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn new(src: &str) -> Result<Parser, TemplateError> {
        Ok(Parser {
            toks: tokens(src)?,
            pos: 0,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym)
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w == word)
    }

    fn expect_sym(&mut self, sym: &str) -> Result<(), TemplateError> {
        if self.is_sym(sym) {
            self.pos += 1;
            Ok(())
        } else {
            fail(format!("expected {sym:?}"))
        }
    }

    fn ident(&mut self) -> Result<String, TemplateError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Ident(w)) => {
                self.pos += 1;
                Ok(w)
            }
            other => fail(format!("expected a name, found {other:?}")),
        }
    }

    fn done(&self) -> Result<(), TemplateError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => fail(format!("unexpected {t:?}")),
        }
    }

    fn expr(&mut self) -> Result<Expr, TemplateError> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.pos += 1;
            left = Expr::Binary(Box::new(left), Op::Or, Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, TemplateError> {
        let mut left = self.not()?;
        while self.is_word("and") {
            self.pos += 1;
            left = Expr::Binary(Box::new(left), Op::And, Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, TemplateError> {
        if self.is_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, TemplateError> {
        let left = self.concat()?;
        if self.is_sym("==") || self.is_sym("!=") {
            let op = if self.is_sym("==") { Op::Eq } else { Op::Ne };
            self.pos += 1;
            return Ok(Expr::Binary(Box::new(left), op, Box::new(self.concat()?)));
        }
        if self.is_word("in") {
            self.pos += 1;
            return Ok(Expr::Binary(
                Box::new(left),
                Op::In,
                Box::new(self.concat()?),
            ));
        }
        if self.is_word("not")
            && matches!(self.toks.get(self.pos + 1), Some(Tok::Ident(w)) if w == "in")
        {
            self.pos += 2;
            let inside = Expr::Binary(Box::new(left), Op::In, Box::new(self.concat()?));
            return Ok(Expr::Not(Box::new(inside)));
        }
        if self.is_word("is") {
            self.pos += 1;
            let negated = self.is_word("not");
            if negated {
                self.pos += 1;
            }
            let test = self.ident()?;
            return Ok(Expr::Is(Box::new(left), test, negated));
        }
        Ok(left)
    }

    fn concat(&mut self) -> Result<Expr, TemplateError> {
        let mut left = self.filtered()?;
        loop {
            let op = if self.is_sym("+") {
                Op::Add
            } else if self.is_sym("~") {
                Op::Concat
            } else {
                return Ok(left);
            };
            self.pos += 1;
            left = Expr::Binary(Box::new(left), op, Box::new(self.filtered()?));
        }
    }

    fn filtered(&mut self) -> Result<Expr, TemplateError> {
        let mut value = self.postfix()?;
        while self.is_sym("|") {
            self.pos += 1;
            value = Expr::Filter(Box::new(value), self.ident()?);
        }
        Ok(value)
    }

    fn postfix(&mut self) -> Result<Expr, TemplateError> {
        let mut value = self.primary()?;
        loop {
            if self.is_sym(".") {
                self.pos += 1;
                value = Expr::Attr(Box::new(value), self.ident()?);
            } else if self.is_sym("[") {
                self.pos += 1;
                let index = self.expr()?;
                self.expect_sym("]")?;
                value = Expr::Index(Box::new(value), Box::new(index));
            } else {
                return Ok(value);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, TemplateError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(Expr::Lit(Value::Str(s)))
            }
            Some(Tok::Int(i)) => {
                self.pos += 1;
                Ok(Expr::Lit(Value::Int(i)))
            }
            Some(Tok::Sym("(")) => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                match name.as_str() {
                    "true" | "True" => return Ok(Expr::Lit(Value::Bool(true))),
                    "false" | "False" => return Ok(Expr::Lit(Value::Bool(false))),
                    "none" | "None" => return Ok(Expr::Lit(Value::None)),
                    _ => {}
                }
                if self.is_sym("(") {
                    self.pos += 1;
                    let mut args = Vec::new();
                    while !self.is_sym(")") {
                        args.push(self.expr()?);
                        if self.is_sym(",") {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                    self.expect_sym(")")?;
                    return Ok(Expr::Call(name, args));
                }
                Ok(Expr::Var(name))
            }
            other => fail(format!("unexpected {other:?}")),
        }
    }
}

fn parse_expr(src: &str) -> Result<Expr, TemplateError> {
    let mut p = Parser::new(src)?;
    let e = p.expr()?;
    p.done()?;
    Ok(e)
}

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
                        if !p.is_word("in") {
                            return fail("expected `in` in for");
                        }
                        p.pos += 1;
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
mod tests {
    use super::*;

    /// SmolLM2-Instruct's template, as its GGUF carries it.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// Llama 3 Instruct's template.
    const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    /// A Zephyr-style template written over several lines with whitespace control.
    const ZEPHYR: &str = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% else %}\n{{ raise_exception('unknown role') }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

    #[test]
    fn smollm2_template_renders_chatml_exactly() {
        let t = JinjaTemplate::parse(SMOLLM2).unwrap();
        assert_eq!(
            t.render_chat("S", "U", "", "<|im_end|>").unwrap(),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn llama3_template_with_set_filters_and_bos() {
        let t = JinjaTemplate::parse(LLAMA3).unwrap();
        assert_eq!(
            t.render_chat(" S ", "U", "<|begin_of_text|>", "").unwrap(),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
    }

    #[test]
    fn trim_blocks_and_lstrip_blocks_like_hugging_face() {
        let t = JinjaTemplate::parse(ZEPHYR).unwrap();
        assert_eq!(
            t.render_chat("S", "U", "", "</s>").unwrap(),
            "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n"
        );
    }

    #[test]
    fn unsupported_syntax_is_an_error_not_a_wrong_prompt() {
        assert!(JinjaTemplate::parse("{% macro x() %}{% endmacro %}").is_err());
        assert!(
            JinjaTemplate::parse("{{ messages | tojson }}")
                .unwrap()
                .render_chat("", "", "", "")
                .is_err()
        );
        assert!(JinjaTemplate::parse("{% if x %}open").is_err());
        let raising = JinjaTemplate::parse("{{ raise_exception('no system role') }}").unwrap();
        assert_eq!(
            raising.render_chat("", "", "", "").unwrap_err().0,
            "the template raised: no system role"
        );
    }
}
