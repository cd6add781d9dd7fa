//! A tiny Go-template subset for `--format`: `{{.Field.Sub}}`, `{{json .X}}`, `{{upper .X}}`,
//! `{{lower .X}}`, `{{join .X ","}}`, `{{index .X "k"}}`, `{{len .X}}`, and the `table` prefix
//! (a header row and tab-aligned columns, as docker's tabwriter does them).

use serde_json::Value;

#[derive(Debug, Clone)]
enum Arg {
    Path(Vec<String>),
    Str(String),
    Num(i64),
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Call(Option<String>, Vec<Arg>),
}

pub struct Template {
    table: bool,
    parts: Vec<Part>,
}

impl Template {
    /// Parse `fmt`; a bare `table` means `default` (which should start with `table `).
    pub fn parse(fmt: &str, default: &str) -> Result<Template, String> {
        let fmt = if fmt.trim() == "table" || fmt.is_empty() {
            default
        } else {
            fmt
        };
        let (table, body) = match fmt.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => (true, rest.trim()),
            _ => (false, fmt),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(i) = rest.find("{{") {
            let mut text = rest[..i].to_string();
            let after = &rest[i + 2..];
            let j = after
                .find("}}")
                .ok_or_else(|| format!("template parsing error: unclosed action in {fmt:?}"))?;
            let mut action = &after[..j];
            rest = &after[j + 2..];
            if let Some(a) = action.strip_prefix('-') {
                text = text.trim_end().to_string();
                action = a;
            }
            let mut trim_next = false;
            if let Some(a) = action.strip_suffix('-') {
                trim_next = true;
                action = a;
            }
            if !text.is_empty() {
                parts.push(Part::Text(text));
            }
            parts.push(parse_action(action.trim())?);
            if trim_next {
                rest = rest.trim_start();
            }
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { table, parts })
    }

    pub fn is_table(&self) -> bool {
        self.table
    }

    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Call(f, args) => out.push_str(&call(f.as_deref(), args, v)?),
            }
        }
        Ok(out)
    }

    /// The header row: each action becomes the header of the first field it names.
    pub fn header(&self, headers: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Call(_, args) => {
                    let name = args.iter().find_map(|a| match a {
                        Arg::Path(p) => p.first().cloned(),
                        _ => None,
                    });
                    if let Some(n) = name {
                        if let Some((_, h)) = headers.iter().find(|(k, _)| *k == n) {
                            out.push_str(h);
                        }
                    }
                }
            }
        }
        out
    }
}

fn parse_action(a: &str) -> Result<Part, String> {
    let mut toks = Vec::new();
    let mut chars = a.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(o) => s.push(o),
                        None => {}
                    },
                    o => s.push(o),
                }
            }
            toks.push(format!("\"{s}"));
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            toks.push(s);
        }
    }
    let arg = |t: &String| -> Result<Arg, String> {
        if let Some(s) = t.strip_prefix('"') {
            Ok(Arg::Str(s.to_string()))
        } else if t == "." {
            Ok(Arg::Path(vec![]))
        } else if let Some(p) = t.strip_prefix('.') {
            Ok(Arg::Path(p.split('.').map(String::from).collect()))
        } else if let Ok(n) = t.parse() {
            Ok(Arg::Num(n))
        } else {
            Err(format!(
                "template parsing error: function \"{t}\" not defined"
            ))
        }
    };
    match toks.first() {
        None => Err("template parsing error: missing value for command".into()),
        // `{{.Label "k"}}`: a method of the row, called with arguments.
        Some(t) if t == ".Label" && toks.len() == 2 => Ok(Part::Call(
            Some("label".into()),
            toks.iter().map(arg).collect::<Result<Vec<_>, _>>()?,
        )),
        Some(t) if t.starts_with('.') || t.starts_with('"') => Ok(Part::Call(None, vec![arg(t)?])),
        Some(f) => {
            if !matches!(
                f.as_str(),
                "json" | "upper" | "lower" | "join" | "index" | "len" | "title" | "println"
            ) {
                return Err(format!(
                    "template parsing error: function \"{f}\" not defined"
                ));
            }
            let args = toks[1..].iter().map(arg).collect::<Result<Vec<_>, _>>()?;
            Ok(Part::Call(Some(f.clone()), args))
        }
    }
}

fn eval(a: &Arg, v: &Value) -> Value {
    match a {
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Num(n) => Value::from(*n),
        Arg::Path(p) => {
            let mut cur = v;
            for seg in p {
                match cur.get(seg) {
                    Some(x) => cur = x,
                    None => return Value::Null,
                }
            }
            cur.clone()
        }
    }
}

fn call(f: Option<&str>, args: &[Arg], v: &Value) -> Result<String, String> {
    let vals: Vec<Value> = args.iter().map(|a| eval(a, v)).collect();
    let first = vals.first().cloned().unwrap_or(Value::Null);
    Ok(match f {
        None => text(&first),
        Some("json") => json(&first),
        Some("upper") => text(&first).to_uppercase(),
        Some("lower") => text(&first).to_lowercase(),
        Some("title") => {
            let t = text(&first);
            let mut c = t.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
        Some("println") => format!("{}\n", text(&first)),
        Some("label") => {
            let key = vals.get(1).map(text).unwrap_or_default();
            match &v["Labels"] {
                Value::Object(o) => o.get(&key).map(text).unwrap_or_default(),
                // docker's row form: `k=v,k2=v2`.
                Value::String(s) => s
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default(),
                _ => String::new(),
            }
        }
        Some("len") => match &first {
            Value::Array(a) => a.len().to_string(),
            Value::Object(o) => o.len().to_string(),
            Value::String(s) => s.len().to_string(),
            _ => return Err("error calling len: len of nil".into()),
        },
        Some("join") => {
            let sep = vals.get(1).map(text).unwrap_or_default();
            match &first {
                Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(&sep),
                _ => String::new(),
            }
        }
        Some("index") => {
            let mut cur = first;
            for k in &vals[1.min(vals.len())..] {
                cur = match (k, &cur) {
                    (Value::Number(n), Value::Array(a)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize))
                        .cloned()
                        .ok_or_else(|| format!("error calling index: index out of range: {n}"))?,
                    (Value::String(s), Value::Object(o)) => {
                        o.get(s).cloned().unwrap_or(Value::Null)
                    }
                    _ => Value::Null,
                };
            }
            text(&cur)
        }
        Some(o) => return Err(format!("function \"{o}\" not defined")),
    })
}

/// Go's `%v` for decoded JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(text).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Go's `json.Marshal`: compact, with `<`, `>` and `&` escaped.
pub fn json(v: &Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Go's text/tabwriter as docker uses it: minwidth 10, padding 3, spaces.
pub fn tabwrite(text: &str) -> String {
    tabwrite_with(text, 10, 3)
}

/// Go's text/tabwriter with a given minimum cell width and padding (spaces).
pub fn tabwrite_with(text: &str, min: usize, pad: usize) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let ncols = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    // widths[line][col] for the tab-terminated cells; a column block is a run of
    // consecutive lines that all have that cell.
    let mut widths: Vec<Vec<usize>> = lines.iter().map(|l| vec![0; l.len()]).collect();
    for col in 0..ncols.saturating_sub(1) {
        let mut i = 0;
        while i < lines.len() {
            if lines[i].len() <= col + 1 {
                i += 1;
                continue;
            }
            let start = i;
            let mut w = min;
            while i < lines.len() && lines[i].len() > col + 1 {
                w = w.max(lines[i][col].chars().count() + pad);
                i += 1;
            }
            for row in widths.iter_mut().take(i).skip(start) {
                row[col] = w;
            }
        }
    }
    let mut out = String::new();
    for (l, w) in lines.iter().zip(&widths) {
        for (j, cell) in l.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < l.len() {
                let n = cell.chars().count();
                out.push_str(&" ".repeat(w[j].saturating_sub(n)));
            }
        }
        out.push('\n');
    }
    out
}

/// docker's `units.HumanSizeWithPrecision(size, 3)`: decimal units, `%.3g`.
pub fn human_size(size: f64) -> String {
    human_size_prec(size, 3)
}

/// docker's `units.HumanSize(size)`: `%.4g`.
pub fn human_size4(size: f64) -> String {
    human_size_prec(size, 4)
}

fn human_size_prec(size: f64, prec: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1000.0 && i < UNITS.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(s, prec), UNITS[i])
}

/// Go's `%.<prec>g`.
fn go_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let e = format!("{v:.*e}", prec - 1);
    let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(-4..prec as i32).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(m.to_string()), exp.abs())
    } else {
        let dec = (prec as i32 - 1 - exp).max(0) as usize;
        trim(format!("{v:.dec$}"))
    }
}

/// go-units `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs;
    if s < 1 {
        return "Less than a second".into();
    } else if s == 1 {
        return "1 second".into();
    } else if s < 60 {
        return format!("{s} seconds");
    }
    let m = s / 60;
    if m == 1 {
        return "About a minute".into();
    } else if m < 60 {
        return format!("{m} minutes");
    }
    let h = ((s as f64) / 3600.0 + 0.5) as i64;
    if h == 1 {
        "About an hour".into()
    } else if h < 48 {
        format!("{h} hours")
    } else if h < 24 * 7 * 2 {
        format!("{} days", h / 24)
    } else if h < 24 * 30 * 2 {
        format!("{} weeks", h / 24 / 7)
    } else if h < 24 * 365 * 2 {
        format!("{} months", h / 24 / 30)
    } else {
        format!("{} years", s / 3600 / 24 / 365)
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `<duration> ago` for a unix time, as docker's CreatedSince.
pub fn since(created: i64) -> String {
    format!("{} ago", human_duration(now() - created))
}

/// Go's `time.Unix(t, 0).String()` in UTC: `2006-01-02 15:04:05 +0000 UTC`.
pub fn go_time(t: i64) -> String {
    let days = t.div_euclid(86400);
    let rem = t.rem_euclid(86400);
    let (y, mo, d) = civil(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// RFC 3339 in UTC, as docker prints non-human times.
pub fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86400);
    let rem = t.rem_euclid(86400);
    let (y, mo, d) = civil(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Re-indent raw JSON text with 4 spaces (docker's inspect output), keeping key order.
pub fn indent_json(raw: &str, base: usize) -> String {
    let mut out = String::new();
    let mut depth = base;
    let mut in_str = false;
    let mut esc = false;
    let nl = |out: &mut String, d: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(d));
    };
    let chars: Vec<char> = raw.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if chars.get(j) == Some(&close) {
                    out.push(c);
                    out.push(close);
                    i = j;
                } else {
                    out.push(c);
                    depth += 1;
                    nl(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                nl(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                nl(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// docker's `units.BytesSize`: binary units, `%.4g`.
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1024.0 && i < UNITS.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g(s, 4), UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(1_290_000.0), "1.29MB");
        assert_eq!(human_size(4_261_376.0), "4.26MB");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(12_345.0), "12.3kB");
        assert_eq!(human_size(999_999.0), "1e+03kB");
        assert_eq!(human_size4(1_989_120.0), "1.989MB");
        assert_eq!(bytes_size(180_224.0), "176KiB");
        assert_eq!(bytes_size(25_275_240_000.0), "23.54GiB");
    }

    #[test]
    fn tabwriter_pads_like_docker() {
        let t = tabwrite("REPOSITORY\tTAG\tIMAGE ID\nbusybox\tlatest\tabc");
        assert_eq!(
            t,
            "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    abc\n"
        );
    }

    #[test]
    fn templates() {
        let v = serde_json::json!({"A": "x", "B": {"C": [1, 2]}, "D": "<n>"});
        let t = Template::parse("{{.A}}:{{json .B.C}} {{json .D}}", "").unwrap();
        assert_eq!(t.render(&v).unwrap(), "x:[1,2] \"\\u003cn\\u003e\"");
        let t = Template::parse("table {{.A}}\\t{{.D}}", "").unwrap();
        assert!(t.is_table());
        assert_eq!(t.header(&[("A", "AA"), ("D", "DD")]), "AA\tDD");
        assert!(Template::parse("{{nosuch .A}}", "").is_err());
        let row = serde_json::json!({"Labels": "a=1,tier=web"});
        let t = Template::parse("{{.Label \"tier\"}}|{{.Label \"x\"}}", "").unwrap();
        assert_eq!(t.render(&row).unwrap(), "web|");
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
