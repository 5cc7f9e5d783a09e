//! S3's XML answers read into a small element tree (names without
//! namespace prefixes, text unescaped), so the API handlers pick fields by
//! path instead of each parsing XML.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One element: its local name, its text and its children.
#[derive(Debug, Default, Clone)]
pub struct El {
    /// Local name (no namespace prefix).
    pub name: String,
    /// Text content (unescaped), concatenated.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<El>,
}

impl El {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`, or "".
    pub fn text_of(&self, name: &str) -> &str {
        self.child(name).map_or("", |c| c.text.as_str())
    }
}

/// Parse a document; its root element. None when it is not well-formed XML.
pub fn parse(doc: &[u8]) -> Option<El> {
    let mut r = Reader::from_reader(doc);
    let mut stack: Vec<El> = vec![El::default()];
    loop {
        match r.read_event().ok()? {
            Event::Start(s) => stack.push(El {
                name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                ..El::default()
            }),
            Event::Empty(s) => {
                let el = El {
                    name: String::from_utf8_lossy(s.local_name().as_ref()).into_owned(),
                    ..El::default()
                };
                stack.last_mut()?.children.push(el);
            }
            Event::End(_) => {
                let el = stack.pop()?;
                stack.last_mut()?.children.push(el);
            }
            Event::Text(t) => {
                let s = t.decode().ok()?;
                let s = quick_xml::escape::unescape(&s).ok()?;
                stack.last_mut()?.text.push_str(&s);
            }
            Event::GeneralRef(g) => {
                let name = g.decode().ok()?;
                let s = match name.as_ref() {
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "amp" => "&".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    _ => {
                        let c = g.resolve_char_ref().ok()??;
                        c.to_string()
                    }
                };
                stack.last_mut()?.text.push_str(&s);
            }
            Event::CData(c) => {
                stack
                    .last_mut()?
                    .text
                    .push_str(&String::from_utf8_lossy(c.as_ref()));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut top = stack.pop()?;
    if !stack.is_empty() {
        return None;
    }
    top.children.pop()
}

/// Escape text for an XML element body.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_listing_with_escaped_keys() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Contents><Key>&lt;img src=x onerror=alert(1)&gt; &amp; &#233;</Key><Size>3</Size></Contents>
<Contents><Key>a/b</Key><Size>5</Size></Contents>
<CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes><IsTruncated>false</IsTruncated></ListBucketResult>"#;
        let root = parse(doc).expect("parses");
        assert_eq!(root.name, "ListBucketResult");
        let keys: Vec<&str> = root.all("Contents").map(|c| c.text_of("Key")).collect();
        assert_eq!(keys, ["<img src=x onerror=alert(1)> & é", "a/b"]);
        assert_eq!(
            root.child("CommonPrefixes").map(|c| c.text_of("Prefix")),
            Some("d/")
        );
        assert_eq!(root.text_of("IsTruncated"), "false");
    }

    #[test]
    fn refuses_broken_documents() {
        assert!(parse(b"<a><b></a>").is_none());
    }
}
