//! Expressions of the chat-template interpreter (jinja_chat.rs): the tokenizer and the
//! precedence-climbing parser that turn the text inside `{{ }}` and `{% %}` into an [`Expr`].

use super::{Expr, Op, TemplateError, Value, fail};

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

pub(super) struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    pub(super) fn new(src: &str) -> Result<Parser, TemplateError> {
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

    /// Consumes the keyword `word`, or fails with `message`.
    pub(super) fn expect_word(&mut self, word: &str, message: &str) -> Result<(), TemplateError> {
        if !self.is_word(word) {
            return fail(message);
        }
        self.pos += 1;
        Ok(())
    }

    pub(super) fn expect_sym(&mut self, sym: &str) -> Result<(), TemplateError> {
        if self.is_sym(sym) {
            self.pos += 1;
            Ok(())
        } else {
            fail(format!("expected {sym:?}"))
        }
    }

    pub(super) fn ident(&mut self) -> Result<String, TemplateError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Ident(w)) => {
                self.pos += 1;
                Ok(w)
            }
            other => fail(format!("expected a name, found {other:?}")),
        }
    }

    pub(super) fn done(&self) -> Result<(), TemplateError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => fail(format!("unexpected {t:?}")),
        }
    }

    pub(super) fn expr(&mut self) -> Result<Expr, TemplateError> {
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

pub(super) fn parse_expr(src: &str) -> Result<Expr, TemplateError> {
    let mut p = Parser::new(src)?;
    let e = p.expr()?;
    p.done()?;
    Ok(e)
}
