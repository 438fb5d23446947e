//! Templated strings, `"Hello ${inputs.name}"`: literal text with CEL expressions inside `${…}`.
//! A string that is exactly one `${expr}` yields the expression's typed value; otherwise values
//! are interpolated (strings as-is, `null` as nothing, the rest as compact JSON). `$${` writes a
//! literal `${`. Value templates apply this to every string inside a JSON value.

use serde_json::Value;

use super::convert::interpolate;
use super::eval::{Failed, evaluate_all};
use super::{EvalContext, ExprError, Expression, Limits, References};
use crate::definition::escape_token;

#[derive(Clone, Debug)]
enum Part {
    Literal(String),
    Expression(Expression),
}

/// A compiled string template.
#[derive(Clone, Debug)]
pub struct Template {
    parts: Vec<Part>,
    limits: Limits,
}

impl Template {
    pub fn parse(source: &str) -> Result<Self, ExprError> {
        Self::parse_with_limits(source, &Limits::default())
    }

    pub fn parse_with_limits(source: &str, limits: &Limits) -> Result<Self, ExprError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(&rest[..dollar]);
            let after = &rest[dollar..];
            if after.starts_with("$${") {
                literal.push_str("${");
                offset += dollar + 3;
                rest = &rest[dollar + 3..];
            } else if let Some(body) = after.strip_prefix("${") {
                let start = offset + dollar;
                let end = closing_brace(body)
                    .ok_or_else(|| ExprError::Template { offset: start, message: "unterminated ${".into() })?;
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Expression(Expression::compile_with_limits(&body[..end], limits)?));
                offset = start + 2 + end + 1;
                rest = &body[end + 1..];
            } else {
                literal.push('$');
                offset += dollar + 1;
                rest = &rest[dollar + 1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts, limits: limits.clone() })
    }

    /// No `${…}`: renders to a constant string.
    pub fn is_literal(&self) -> bool {
        self.expressions().next().is_none()
    }

    pub fn expressions(&self) -> impl Iterator<Item = &Expression> {
        self.parts.iter().filter_map(|part| match part {
            Part::Expression(expression) => Some(expression),
            Part::Literal(_) => None,
        })
    }

    pub fn references(&self) -> References {
        let mut references = References::default();
        for expression in self.expressions() {
            references.merge(expression.references());
        }
        references
    }

    /// The rendered value: typed for a lone `${expr}`, else a string.
    pub fn render(&self, context: &EvalContext) -> Result<Value, ExprError> {
        let expressions: Vec<&Expression> = self.expressions().collect();
        let values = evaluate_all(&expressions, context, &self.limits).map_err(|failed| failed.error)?;
        Ok(self.assemble(values))
    }

    /// The rendered value as text, for fields that must be strings (URLs, headers, prompts).
    pub fn render_string(&self, context: &EvalContext) -> Result<String, ExprError> {
        Ok(match self.render(context)? {
            Value::String(text) => text,
            other => {
                let mut text = String::new();
                interpolate(&other, &mut text);
                text
            }
        })
    }

    /// Puts the expressions' values (in order) into the template.
    fn assemble(&self, values: Vec<Value>) -> Value {
        if let [Part::Expression(_)] = self.parts.as_slice() {
            return values.into_iter().next().unwrap_or(Value::Null);
        }
        let mut values = values.into_iter();
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(literal) => text.push_str(literal),
                Part::Expression(_) => interpolate(&values.next().unwrap_or(Value::Null), &mut text),
            }
        }
        Value::String(text)
    }
}

/// Where a `${` body ends: the first `}` outside strings and nested braces.
fn closing_brace(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'{' => depth += 1,
            b'}' if depth == 0 => return Some(index),
            b'}' => depth -= 1,
            quote @ (b'\'' | b'"') => {
                let raw = index > 0 && matches!(bytes[index - 1], b'r' | b'R');
                index = string_end(bytes, index, quote, raw)?;
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// Index just past the CEL string literal starting at `start` (single or triple quoted).
fn string_end(bytes: &[u8], start: usize, quote: u8, raw: bool) -> Option<usize> {
    let triple = bytes.get(start..start + 3).is_some_and(|opening| opening.iter().all(|byte| *byte == quote));
    let mut index = if triple { start + 3 } else { start + 1 };
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'\\' && !raw {
            index += 2;
            continue;
        }
        if byte == quote {
            if !triple {
                return Some(index + 1);
            }
            if bytes.get(index..index + 3).is_some_and(|closing| closing.iter().all(|byte| *byte == quote)) {
                return Some(index + 3);
            }
        }
        index += 1;
    }
    None
}

/// A JSON value whose strings are templates; objects keys are literal.
#[derive(Clone, Debug)]
pub struct ValueTemplate {
    value: Value,
    /// Pointer (within `value`) → compiled template, for strings containing `$`.
    templates: Vec<(String, Template)>,
    limits: Limits,
}

impl ValueTemplate {
    pub fn compile(value: &Value) -> Result<Self, ExprError> {
        Self::compile_with_limits(value, &Limits::default())
    }

    pub fn compile_with_limits(value: &Value, limits: &Limits) -> Result<Self, ExprError> {
        let mut templates = Vec::new();
        collect_templates(value, String::new(), limits, &mut templates)?;
        Ok(Self { value: value.clone(), templates, limits: limits.clone() })
    }

    pub fn references(&self) -> References {
        let mut references = References::default();
        for (_, template) in &self.templates {
            references.merge(&template.references());
        }
        references
    }

    /// Renders every template with one evaluation (one deadline) for the whole value.
    pub fn render(&self, context: &EvalContext) -> Result<Value, ExprError> {
        let mut owners = Vec::new();
        let mut expressions = Vec::new();
        for (position, (_, template)) in self.templates.iter().enumerate() {
            for expression in template.expressions() {
                owners.push(position);
                expressions.push(expression);
            }
        }
        let values = evaluate_all(&expressions, context, &self.limits).map_err(|Failed { position, error }| {
            let pointer = owners.get(position).map_or("", |owner| self.templates[*owner].0.as_str());
            error.at(pointer)
        })?;
        let mut values = values.into_iter();
        let mut rendered = self.value.clone();
        for (pointer, template) in &self.templates {
            let own: Vec<Value> = values.by_ref().take(template.expressions().count()).collect();
            let result = template.assemble(own);
            if pointer.is_empty() {
                rendered = result;
            } else if let Some(slot) = rendered.pointer_mut(pointer) {
                *slot = result;
            }
        }
        Ok(rendered)
    }
}

fn collect_templates(
    value: &Value,
    pointer: String,
    limits: &Limits,
    out: &mut Vec<(String, Template)>,
) -> Result<(), ExprError> {
    match value {
        Value::String(text) if text.contains('$') => {
            let template = Template::parse_with_limits(text, limits).map_err(|error| error.at(&pointer))?;
            out.push((pointer, template));
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_templates(item, format!("{pointer}/{index}"), limits, out)?;
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                collect_templates(item, format!("{pointer}/{}", escape_token(key)), limits, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_closing_brace() {
        assert_eq!(closing_brace("a}"), Some(1));
        assert_eq!(closing_brace("{'a': 1}['a']} tail"), Some(13));
        assert_eq!(closing_brace("'}' + \"}\"}"), Some(9));
        assert_eq!(closing_brace("'''}'''}"), Some(7));
        assert_eq!(closing_brace("r'\\'}"), Some(4));
        assert_eq!(closing_brace("'\\'}'}"), Some(5));
        assert_eq!(closing_brace("{"), None);
        assert_eq!(closing_brace("'unterminated}"), None);
    }

    #[test]
    fn splits_literals_and_expressions() {
        let template = Template::parse("Hi ${inputs.name}, $${not} $5 ${1 + 1}").unwrap();
        assert_eq!(template.parts.len(), 4);
        assert!(matches!(&template.parts[2], Part::Literal(text) if text == ", ${not} $5 "));
        assert!(Template::parse("plain $ text").unwrap().is_literal());
        assert!(matches!(Template::parse("x ${inputs.a"), Err(ExprError::Template { offset: 2, .. })));
        assert!(matches!(Template::parse("${}"), Err(ExprError::Empty)));
    }
}
