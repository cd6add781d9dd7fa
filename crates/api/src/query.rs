//! Query strings as Docker clients send them (percent-encoding, `1`/`true`/`True` booleans).

use std::collections::HashMap;

pub struct Query(HashMap<String, String>, Vec<(String, String)>);

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let mut m = HashMap::new();
        let mut all = Vec::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.insert(decode(k), decode(v));
            all.push((decode(k), decode(v)));
        }
        Query(m, all)
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// Every value of a repeated key, in order.
    pub fn all(&self, k: &str) -> Vec<String> {
        self.1
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("1" | "true" | "True" | "TRUE" | "yes"))
    }

    pub fn int(&self, k: &str) -> Option<i64> {
        self.get(k).and_then(|v| v.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_reads_booleans() {
        let q = Query::parse(Some(
            "fromImage=r%2Fx&tag=t&v=True&force=False&link=0&filters=%7B%22a%22%3A1%7D&t=5",
        ));
        assert_eq!(q.get("fromImage"), Some("r/x"));
        assert!(q.flag("v") && !q.flag("force") && !q.flag("link") && !q.flag("missing"));
        assert_eq!(q.get("filters"), Some("{\"a\":1}"));
        assert_eq!(q.int("t"), Some(5));
    }
}
