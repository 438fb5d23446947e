//! The `xml` functions of the expression language: `xml.parse(text)`, `xml.parse(text, lists)`
//! and `xml.text(node)`, so a workflow can read XML payloads such as ADF car-dealer leads.
//!
//! The mapping (documented in `docs/workflow-format.md`, "XML"): the document becomes
//! `{<root name>: <element>}`; an element without attributes or child elements is its text (a
//! string); any other element is a map of `@attribute` → value, child name → child (a list when
//! the name repeats, or when it is named in `lists`), and `#text` → its own text when it has some.
//! Text is the concatenation of the element's text and CDATA, trimmed.
//!
//! Safety: no DTD processing at all — a `<!DOCTYPE>` is skipped unread, so no entity is ever
//! declared or expanded and nothing external is fetched (no XXE, no "billion laughs"); only the
//! five predefined entities and character references are resolved, any other reference is an
//! error. Input is capped at [`MAX_XML_BYTES`] and nesting at [`MAX_XML_DEPTH`].

use std::collections::BTreeSet;

use cel::common::types::{CelString, DYN_TYPE, LIST_TYPE, STRING_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::convert::{cel_to_json, json_to_cel};

/// Largest document `xml.parse` reads.
pub const MAX_XML_BYTES: usize = 1024 * 1024;
/// Deepest element nesting `xml.parse` accepts (the conversions to and from CEL recurse).
pub const MAX_XML_DEPTH: usize = 64;

/// Registers the `xml.*` functions on the expression environment.
pub(crate) fn extension(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_overload("xml.parse", "xml.parse(string)", vec![STRING_TYPE], parse_function)?;
    env.add_overload("xml.parse", "xml.parse(string,list)", vec![STRING_TYPE, LIST_TYPE], parse_with_lists_function)?;
    env.add_overload("xml.text", "xml.text(dyn)", vec![DYN_TYPE], text_function)?;
    Ok(())
}

fn string_arg<'a>(args: &'a [CowVal<'_, '_>], index: usize, function: &str) -> Result<&'a str, ExecutionError> {
    args.get(index)
        .and_then(|arg| arg.downcast_ref::<CelString>())
        .map(|text| text.inner())
        .ok_or_else(|| ExecutionError::function_error(function, "expected a string argument"))
}

fn json_arg(args: &[CowVal<'_, '_>], index: usize, function: &str) -> Result<Value, ExecutionError> {
    let arg = args.get(index).ok_or_else(|| ExecutionError::function_error(function, "missing argument"))?;
    let value = cel::Value::try_from(arg.as_ref())?;
    cel_to_json(&value).map_err(|error| ExecutionError::function_error(function, error))
}

fn into_result<'b, 'v>(value: &Value) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let boxed: Box<dyn Val> = json_to_cel(value).try_into()?;
    Ok(CowVal::Owned(boxed))
}

fn parse_function<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = string_arg(&args, 0, "xml.parse")?;
    let parsed = parse(text, &BTreeSet::new()).map_err(|error| ExecutionError::function_error("xml.parse", error))?;
    into_result(&parsed)
}

fn parse_with_lists_function<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = string_arg(&args, 0, "xml.parse")?;
    let Value::Array(names) = json_arg(&args, 1, "xml.parse")? else {
        return Err(ExecutionError::function_error("xml.parse", "the second argument must be a list of names"));
    };
    let lists = names
        .into_iter()
        .map(|name| match name {
            Value::String(name) => Ok(name),
            _ => Err(ExecutionError::function_error("xml.parse", "the list of element names must hold strings")),
        })
        .collect::<Result<BTreeSet<String>, _>>()?;
    let parsed = parse(text, &lists).map_err(|error| ExecutionError::function_error("xml.parse", error))?;
    into_result(&parsed)
}

fn text_function<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let node = json_arg(&args, 0, "xml.text")?;
    Ok(CowVal::owned(CelString::from(text_of(&node))))
}

/// The text of a node of a parsed document, whatever its shape: a string is itself, an element
/// map its `#text` (empty when it has none), a list the text of its first node, `null` empty,
/// anything else its JSON form.
pub fn text_of(node: &Value) -> String {
    match node {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        Value::Object(map) => map.get("#text").map(text_of).unwrap_or_default(),
        Value::Array(items) => items.first().map(text_of).unwrap_or_default(),
        other => other.to_string(),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("document is {0} bytes, more than the limit of {MAX_XML_BYTES}")]
    TooLarge(usize),
    #[error("elements are nested deeper than {MAX_XML_DEPTH} levels")]
    TooDeep,
    #[error("entity '&{0};' is not supported: only &lt; &gt; &amp; &apos; &quot; and character references are")]
    UnknownEntity(String),
    #[error("document has no root element")]
    NoRoot,
    #[error("content after the root element")]
    TrailingContent,
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
}

/// An element being read: its attributes and children so far, and its text.
struct Open {
    name: String,
    fields: Map<String, Value>,
    /// Child names seen, to turn a repeated one into a list.
    repeated: BTreeSet<String>,
    text: String,
    has_children: bool,
}

impl Open {
    fn new(start: &BytesStart<'_>, position: u64) -> Result<Self, XmlError> {
        let malformed = |message: String| XmlError::Malformed { position, message };
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let mut fields = Map::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|error| malformed(error.to_string()))?;
            let key = format!("@{}", String::from_utf8_lossy(attribute.key.as_ref()));
            let value = attribute.unescape_value().map_err(|error| match error {
                quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, entity)) => {
                    XmlError::UnknownEntity(entity)
                }
                other => malformed(other.to_string()),
            })?;
            fields.insert(key, Value::String(value.into_owned()));
        }
        Ok(Self { name, fields, repeated: BTreeSet::new(), text: String::new(), has_children: false })
    }

    fn into_value(self) -> Value {
        let text = self.text.trim();
        if self.fields.is_empty() && !self.has_children {
            return Value::String(text.to_owned());
        }
        let mut fields = self.fields;
        if !text.is_empty() {
            fields.insert("#text".to_owned(), Value::String(text.to_owned()));
        }
        Value::Object(fields)
    }

    fn add_child(&mut self, name: String, value: Value, lists: &BTreeSet<String>) {
        self.has_children = true;
        if lists.contains(&name) {
            match self.fields.entry(name) {
                serde_json::map::Entry::Occupied(mut entry) => {
                    if let Value::Array(items) = entry.get_mut() {
                        items.push(value);
                    }
                }
                serde_json::map::Entry::Vacant(entry) => {
                    entry.insert(Value::Array(vec![value]));
                }
            }
            return;
        }
        let first_repeat = !self.repeated.contains(&name);
        match self.fields.remove(&name) {
            None => {
                self.fields.insert(name, value);
            }
            Some(Value::Array(mut items)) if !first_repeat => {
                items.push(value);
                self.fields.insert(name, Value::Array(items));
            }
            Some(previous) => {
                self.repeated.insert(name.clone());
                self.fields.insert(name, Value::Array(vec![previous, value]));
            }
        }
    }
}

/// Parses an XML document into the JSON shape described in the module documentation. Names in
/// `lists` are always lists of elements, even when they occur once.
pub fn parse(text: &str, lists: &BTreeSet<String>) -> Result<Value, XmlError> {
    if text.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge(text.len()));
    }
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    loop {
        let position = reader.buffer_position();
        let event =
            reader.read_event().map_err(|error| XmlError::Malformed { position, message: error.to_string() })?;
        let malformed = |message: String| XmlError::Malformed { position, message };
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(Open::new(&start, position)?);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let element = Open::new(&start, position)?;
                close(&mut stack, &mut root, element, lists);
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| malformed("unexpected closing tag".into()))?;
                close(&mut stack, &mut root, element, lists);
            }
            Event::Text(content) => {
                let decoded = content.xml10_content().map_err(|error| malformed(error.to_string()))?;
                match stack.last_mut() {
                    Some(open) => open.text.push_str(&decoded),
                    None if decoded.trim().is_empty() => {}
                    None => return Err(malformed("text outside the root element".into())),
                }
            }
            Event::CData(content) => {
                let decoded = content.xml10_content().map_err(|error| malformed(error.to_string()))?;
                let open = stack.last_mut().ok_or_else(|| malformed("CDATA outside the root element".into()))?;
                open.text.push_str(&decoded);
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|error| malformed(error.to_string()))? {
                    Some(character) => character.to_string(),
                    None => {
                        let name = reference.decode().map_err(|error| malformed(error.to_string()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| XmlError::UnknownEntity(name.clone().into_owned()))?
                            .to_owned()
                    }
                };
                let open = stack.last_mut().ok_or_else(|| malformed("reference outside the root element".into()))?;
                open.text.push_str(&resolved);
            }
            // Never processed: declarations inside a DOCTYPE are not read, so no entity exists.
            Event::DocType(_) | Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed {
            position: reader.buffer_position(),
            message: "the document ends inside an element".into(),
        });
    }
    let (name, value) = root.ok_or(XmlError::NoRoot)?;
    let mut document = Map::new();
    document.insert(name, value);
    Ok(Value::Object(document))
}

fn close(stack: &mut [Open], root: &mut Option<(String, Value)>, element: Open, lists: &BTreeSet<String>) {
    let name = element.name.clone();
    let value = element.into_value();
    match stack.last_mut() {
        Some(parent) => parent.add_child(name, value, lists),
        None => *root = Some((name, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An ADF 1.0 lead as lead providers send it.
    pub(crate) const ADF_SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<?ADF VERSION "1.0"?>
<adf>
  <prospect status="new">
    <id sequence="1" source="cars.example">LEAD-20251206-0042</id>
    <requestdate>2025-12-06T14:32:10-06:00</requestdate>
    <vehicle interest="buy" status="new">
      <year>2025</year>
      <make>Toyota</make>
      <model>RAV4</model>
      <trim>XLE Premium</trim>
      <vin>2T3P1RFV5SW000001</vin>
      <price type="quote" currency="USD">34950</price>
    </vehicle>
    <vehicle interest="trade-in" status="used">
      <year>2017</year>
      <make>Honda</make>
      <model>Civic</model>
      <odometer status="original" units="mi">78210</odometer>
    </vehicle>
    <customer>
      <contact primarycontact="1">
        <name part="first" type="individual">Maria</name>
        <name part="last" type="individual">Lopez</name>
        <email preferredcontact="1">maria.lopez@example.com</email>
        <phone type="voice" time="evening">(512) 555-0147</phone>
        <phone type="cellphone">512-555-0199</phone>
        <address type="home">
          <street line="1">12 Elm &amp; Oak St</street>
          <city>Austin</city>
          <regioncode>TX</regioncode>
          <postalcode>78701</postalcode>
        </address>
      </contact>
      <comments><![CDATA[Is the RAV4 still available? Prefer <evening> calls.]]></comments>
    </customer>
    <vendor>
      <vendorname>Austin Toyota</vendorname>
      <contact><name part="full">Sales Desk</name></contact>
    </vendor>
    <provider>
      <name part="full">Cars.example Leads</name>
      <service>Dealer Lead Service</service>
    </provider>
  </prospect>
</adf>"#;

    fn no_lists() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn parses_a_real_adf_lead() {
        let doc = parse(ADF_SAMPLE, &no_lists()).unwrap();
        let prospect = &doc["adf"]["prospect"];
        assert_eq!(prospect["@status"], "new");
        assert_eq!(prospect["id"], json!({"@sequence": "1", "@source": "cars.example", "#text": "LEAD-20251206-0042"}));
        assert_eq!(prospect["requestdate"], "2025-12-06T14:32:10-06:00");
        let vehicles = prospect["vehicle"].as_array().unwrap();
        assert_eq!(vehicles.len(), 2);
        assert_eq!(vehicles[0]["@interest"], "buy");
        assert_eq!(vehicles[0]["make"], "Toyota");
        assert_eq!(vehicles[0]["price"]["#text"], "34950");
        let contact = &prospect["customer"]["contact"];
        assert_eq!(contact["name"][0], json!({"@part": "first", "@type": "individual", "#text": "Maria"}));
        assert_eq!(contact["email"]["#text"], "maria.lopez@example.com");
        assert_eq!(contact["phone"][1]["#text"], "512-555-0199");
        assert_eq!(contact["address"]["street"]["#text"], "12 Elm & Oak St");
        assert_eq!(prospect["customer"]["comments"], "Is the RAV4 still available? Prefer <evening> calls.");
        assert_eq!(prospect["vendor"]["vendorname"], "Austin Toyota");
        assert_eq!(prospect["provider"]["name"]["#text"], "Cars.example Leads");
    }

    #[test]
    fn forced_lists_are_lists_even_when_single() {
        let lists: BTreeSet<String> = ["vehicle", "phone"].into_iter().map(str::to_owned).collect();
        let doc = parse("<a><vehicle>x</vehicle><phone>1</phone><phone>2</phone><b>y</b></a>", &lists).unwrap();
        assert_eq!(doc, json!({"a": {"vehicle": ["x"], "phone": ["1", "2"], "b": "y"}}));
        let three = parse("<a><b>1</b><b>2</b><b>3</b></a>", &no_lists()).unwrap();
        assert_eq!(three, json!({"a": {"b": ["1", "2", "3"]}}));
    }

    #[test]
    fn mixed_content_empty_elements_and_references() {
        let doc = parse("<a x='1'>hi <b/> there &#x41;&#66;&lt;&quot;</a>", &no_lists()).unwrap();
        assert_eq!(doc, json!({"a": {"@x": "1", "b": "", "#text": "hi  there AB<\""}}));
        assert_eq!(parse("<empty/>", &no_lists()).unwrap(), json!({"empty": ""}));
        assert_eq!(parse("<n:a xmlns:n='urn:x'><n:b>1</n:b></n:a>", &no_lists()).unwrap()["n:a"]["n:b"], "1");
    }

    #[test]
    fn billion_laughs_is_not_expanded() {
        let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"#;
        assert_eq!(parse(bomb, &no_lists()), Err(XmlError::UnknownEntity("lol9".into())));
        let in_attribute = r#"<!DOCTYPE a [<!ENTITY e "boom">]><a v="&e;"/>"#;
        assert_eq!(parse(in_attribute, &no_lists()), Err(XmlError::UnknownEntity("e".into())));
    }

    #[test]
    fn external_entities_are_never_resolved() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#;
        assert_eq!(parse(xxe, &no_lists()), Err(XmlError::UnknownEntity("xxe".into())));
        // a DOCTYPE alone is skipped, the document still reads
        let doc = parse(r#"<!DOCTYPE adf SYSTEM "http://127.0.0.1:1/adf.dtd"><adf><x>1</x></adf>"#, &no_lists());
        assert_eq!(doc.unwrap(), json!({"adf": {"x": "1"}}));
    }

    #[test]
    fn huge_and_deep_input_is_refused() {
        let huge = format!("<a>{}</a>", "x".repeat(MAX_XML_BYTES));
        assert!(matches!(parse(&huge, &no_lists()), Err(XmlError::TooLarge(_))));
        let deep = format!("{}{}", "<a>".repeat(MAX_XML_DEPTH + 1), "</a>".repeat(MAX_XML_DEPTH + 1));
        assert_eq!(parse(&deep, &no_lists()), Err(XmlError::TooDeep));
        let ok = format!("{}{}", "<a>".repeat(MAX_XML_DEPTH), "</a>".repeat(MAX_XML_DEPTH));
        assert!(parse(&ok, &no_lists()).is_ok());
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in ["", "   ", "just text", "<a>", "<a></b>", "<a/><b/>", "<a>&unknown;</a>", "<a x='1' x='2'/>"] {
            assert!(parse(bad, &no_lists()).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn text_of_reads_every_shape() {
        assert_eq!(text_of(&json!("a")), "a");
        assert_eq!(text_of(&json!({"@x": "1", "#text": "b"})), "b");
        assert_eq!(text_of(&json!({"@x": "1"})), "");
        assert_eq!(text_of(&json!([{"#text": "c"}, "d"])), "c");
        assert_eq!(text_of(&json!(null)), "");
        assert_eq!(text_of(&json!(5)), "5");
    }
}
