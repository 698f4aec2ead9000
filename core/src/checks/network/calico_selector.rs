//! Calico's selector expressions (`app == 'web' && has(tier)`), parsed and evaluated against
//! label sets.
//!
//! Supported, as Calico documents them: `all()` and the empty selector, `global()`,
//! `k == 'v'`, `k != 'v'` (also true when `k` is absent), `k in {'a', 'b'}`,
//! `k not in {...}` (also true when absent), `has(k)`, `k contains 'v'`, `k starts with 'v'`,
//! `k ends with 'v'`, `!`, `&&`, `||` and parentheses; strings in single or double quotes
//! without escapes. Anything else is an error, and callers treat such a selector as selecting
//! nothing (and say so).

use std::collections::BTreeMap;

/// A parsed selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Expr {
    /// `all()` or the empty selector.
    All,
    /// `global()`: only non-namespaced endpoints (never a pod).
    Global,
    /// `has(k)`.
    Has(String),
    /// `k == 'v'`.
    Eq(String, String),
    /// `k != 'v'`.
    Ne(String, String),
    /// `k in {...}`.
    In(String, Vec<String>),
    /// `k not in {...}`.
    NotIn(String, Vec<String>),
    /// `k contains 'v'`.
    Contains(String, String),
    /// `k starts with 'v'`.
    StartsWith(String, String),
    /// `k ends with 'v'`.
    EndsWith(String, String),
    /// `!e`.
    Not(Box<Expr>),
    /// `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `a || b`.
    Or(Box<Expr>, Box<Expr>),
}

/// Where an expression looks labels up.
pub(super) trait Labels {
    /// The value of a label, if present.
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Expr {
    /// Parses a selector; the empty (or all-blank) selector is `all()`.
    pub(super) fn parse(text: &str) -> Result<Expr, String> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Ok(Expr::All);
        }
        let mut p = Parser { tokens, pos: 0 };
        let e = p.or()?;
        match p.tokens.get(p.pos) {
            None => Ok(e),
            Some(t) => Err(format!("unexpected {t:?} at token {}", p.pos + 1)),
        }
    }

    /// Whether the selector matches a label set.
    pub(super) fn matches(&self, labels: &dyn Labels) -> bool {
        match self {
            Expr::All => true,
            Expr::Global => false,
            Expr::Has(k) => labels.label(k).is_some(),
            Expr::Eq(k, v) => labels.label(k) == Some(v.as_str()),
            Expr::Ne(k, v) => labels.label(k) != Some(v.as_str()),
            Expr::In(k, vs) => labels.label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Expr::NotIn(k, vs) => labels.label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Expr::Contains(k, v) => labels.label(k).is_some_and(|l| l.contains(v.as_str())),
            Expr::StartsWith(k, v) => labels.label(k).is_some_and(|l| l.starts_with(v.as_str())),
            Expr::EndsWith(k, v) => labels.label(k).is_some_and(|l| l.ends_with(v.as_str())),
            Expr::Not(e) => !e.matches(labels),
            Expr::And(a, b) => a.matches(labels) && b.matches(labels),
            Expr::Or(a, b) => a.matches(labels) || b.matches(labels),
        }
    }

    /// Whether every label key the selector reads satisfies `pred` (true for `all()`).
    pub(super) fn keys_all(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Expr::All | Expr::Global => true,
            Expr::Has(k)
            | Expr::Eq(k, _)
            | Expr::Ne(k, _)
            | Expr::In(k, _)
            | Expr::NotIn(k, _)
            | Expr::Contains(k, _)
            | Expr::StartsWith(k, _)
            | Expr::EndsWith(k, _) => pred(k),
            Expr::Not(e) => e.keys_all(pred),
            Expr::And(a, b) | Expr::Or(a, b) => a.keys_all(pred) && b.keys_all(pred),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Bang,
    And,
    Or,
    EqEq,
    NotEq,
}

/// Label names: alphanumerics, `-`, `_`, `/` and `.` (Calico's grammar).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.')
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let two = |next: char, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
            if chars.peek().map(|(_, n)| *n) == Some(next) {
                chars.next();
                true
            } else {
                false
            }
        };
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::LParen),
            ')' => out.push(Token::RParen),
            '{' => out.push(Token::LBrace),
            '}' => out.push(Token::RBrace),
            ',' => out.push(Token::Comma),
            '!' if two('=', &mut chars) => out.push(Token::NotEq),
            '!' => out.push(Token::Bang),
            '&' if two('&', &mut chars) => out.push(Token::And),
            '|' if two('|', &mut chars) => out.push(Token::Or),
            '=' if two('=', &mut chars) => out.push(Token::EqEq),
            '\'' | '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some((_, q)) if q == c => break,
                        Some((_, ch)) => s.push(ch),
                        None => return Err(format!("unterminated string at {i}")),
                    }
                }
                out.push(Token::Str(s));
            }
            c if is_word_char(c) => {
                let mut w = String::from(c);
                while let Some((_, n)) = chars.peek().copied() {
                    if !is_word_char(n) {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
            other => return Err(format!("unexpected character `{other}` at {i}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &Token) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            other => Err(format!("expected {want:?}, found {other:?}")),
        }
    }

    fn word_is(&self, offset: usize, w: &str) -> bool {
        matches!(self.tokens.get(self.pos + offset), Some(Token::Word(x)) if x == w)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Token::Bang) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(s),
            other => Err(format!("expected a quoted string, found {other:?}")),
        }
    }

    fn set(&mut self) -> Result<Vec<String>, String> {
        self.expect(&Token::LBrace)?;
        let mut out = Vec::new();
        if self.peek() == Some(&Token::RBrace) {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            out.push(self.string()?);
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::RBrace) => return Ok(out),
                other => return Err(format!("expected `,` or `}}`, found {other:?}")),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::LParen) => {
                let e = self.or()?;
                self.expect(&Token::RParen)?;
                Ok(e)
            }
            Some(Token::Word(w)) => {
                // Function forms: all(), global(), has(k).
                if self.peek() == Some(&Token::LParen)
                    && matches!(w.as_str(), "all" | "global" | "has")
                {
                    self.pos += 1;
                    let e = match w.as_str() {
                        "all" => Expr::All,
                        "global" => Expr::Global,
                        _ => match self.next() {
                            Some(Token::Word(k)) => Expr::Has(k),
                            other => {
                                return Err(format!("expected a label in has(), found {other:?}"));
                            }
                        },
                    };
                    self.expect(&Token::RParen)?;
                    return Ok(e);
                }
                let key = w;
                match self.next() {
                    Some(Token::EqEq) => Ok(Expr::Eq(key, self.string()?)),
                    Some(Token::NotEq) => Ok(Expr::Ne(key, self.string()?)),
                    Some(Token::Word(op)) if op == "in" => Ok(Expr::In(key, self.set()?)),
                    Some(Token::Word(op)) if op == "not" && self.word_is(0, "in") => {
                        self.pos += 1;
                        Ok(Expr::NotIn(key, self.set()?))
                    }
                    Some(Token::Word(op)) if op == "contains" => {
                        Ok(Expr::Contains(key, self.string()?))
                    }
                    Some(Token::Word(op))
                        if (op == "starts" || op == "ends") && self.word_is(0, "with") =>
                    {
                        self.pos += 1;
                        let v = self.string()?;
                        Ok(if op == "starts" {
                            Expr::StartsWith(key, v)
                        } else {
                            Expr::EndsWith(key, v)
                        })
                    }
                    other => Err(format!(
                        "expected an operator after `{key}`, found {other:?}"
                    )),
                }
            }
            other => Err(format!(
                "expected a label, `(`, `!` or a function, found {other:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn eval(sel: &str, pairs: &[(&str, &str)]) -> bool {
        Expr::parse(sel)
            .unwrap_or_else(|e| panic!("{sel}: {e}"))
            .matches(&labels(pairs))
    }

    #[test]
    fn documented_forms_evaluate() {
        let web = [("app", "web"), ("tier", "frontend")];
        // Examples from Calico's selector documentation.
        assert!(eval("all()", &web));
        assert!(eval("", &web));
        assert!(eval("  ", &[]));
        assert!(eval("app == 'web'", &web));
        assert!(eval("app == \"web\"", &web));
        assert!(!eval("app == 'db'", &web));
        assert!(eval("app != 'db'", &web));
        assert!(
            eval("deployment != 'dev'", &web),
            "!= matches an absent label"
        );
        assert!(eval("has(tier)", &web));
        assert!(!eval("has(env)", &web));
        assert!(eval("! has(env)", &web));
        assert!(eval("tier in {'frontend', 'backend'}", &web));
        assert!(!eval("tier not in {'frontend', 'backend'}", &web));
        assert!(
            eval("env not in {'prod'}", &web),
            "not in matches an absent label"
        );
        assert!(eval("app == 'web' && has(tier)", &web));
        assert!(!eval("app == 'web' && has(env)", &web));
        assert!(eval("app == 'db' || tier == 'frontend'", &web));
        assert!(eval(
            "!(app == 'db') && (tier == 'x' || app == 'web')",
            &web
        ));
        assert!(eval(
            "app starts with 'we' && app ends with 'eb' && app contains 'e'",
            &web
        ));
        assert!(!eval("global()", &web));
        assert!(eval(
            "has(projectcalico.org/name) && projectcalico.org/name not in {\"kube-system\"}",
            &[("projectcalico.org/name", "prod")]
        ));
    }

    #[test]
    fn malformed_selectors_are_errors() {
        for bad in [
            "app ==",
            "app = 'web'",
            "has(app",
            "app == 'web",
            "app in {'a' 'b'}",
            "app == 'a' &&",
            "app",
            "foo(bar)",
            "app == 'a' extra",
            "app =~ 'x'",
        ] {
            assert!(Expr::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn keys_are_reported() {
        let e =
            Expr::parse("projectcalico.org/namespace == 'a' && has(pcns.team)").expect("parses");
        assert!(e.keys_all(&|k| k.starts_with("pcns.") || k == "projectcalico.org/namespace"));
        let e = Expr::parse("all() && app == 'x'").expect("parses");
        assert!(!e.keys_all(&|k| k.starts_with("pcns.")));
        assert!(Expr::All.keys_all(&|_| false));
    }
}
