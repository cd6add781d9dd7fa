//! The daemon's event log, as `docker events` shows it: every container, image, volume and
//! network action, kept in a bounded in-memory ring for `since` queries and handed to the
//! subscribers that wait for more.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many past events a `since` query can reach (Docker keeps 256).
pub const HISTORY: usize = 256;

/// One event: `Type` (container, image, volume, network, daemon), `Action`, the actor's id
/// and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub typ: String,
    pub action: String,
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub time_nano: i64,
}

impl Event {
    pub fn new(typ: &str, action: impl Into<String>, id: impl Into<String>) -> Event {
        Event {
            typ: typ.to_string(),
            action: action.into(),
            id: id.into(),
            attributes: BTreeMap::new(),
            time_nano: now_nano(),
        }
    }

    pub fn attr(mut self, key: &str, value: impl Into<String>) -> Event {
        self.attributes.insert(key.to_string(), value.into());
        self
    }

    /// The JSON object of Docker's `/events` stream. Container and image events also carry
    /// the old top-level `status`, `id` and `from` fields that old clients read.
    pub fn to_docker(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "Type": self.typ,
            "Action": self.action,
            "Actor": {"ID": self.id, "Attributes": self.attributes},
            "scope": "local",
            "time": self.time_nano / 1_000_000_000,
            "timeNano": self.time_nano,
        });
        if self.typ == "container" || self.typ == "image" {
            v["status"] = self.action.clone().into();
            v["id"] = self.id.clone().into();
            if let Some(image) = self.attributes.get("image") {
                v["from"] = image.clone().into();
            }
        }
        v
    }
}

pub fn now_nano() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

struct Ring {
    /// Sequence number the next event gets.
    next: u64,
    buf: VecDeque<(u64, Event)>,
}

/// The event log. Publishing never blocks on subscribers: they read from the ring by
/// sequence number, and one that falls more than [`HISTORY`] events behind misses some.
pub struct Events {
    ring: Mutex<Ring>,
    cv: Condvar,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            ring: Mutex::new(Ring {
                next: 0,
                buf: VecDeque::with_capacity(HISTORY),
            }),
            cv: Condvar::new(),
        }
    }
}

impl Events {
    pub fn publish(&self, e: Event) {
        let mut r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if r.buf.len() == HISTORY {
            r.buf.pop_front();
        }
        let seq = r.next;
        r.next += 1;
        r.buf.push_back((seq, e));
        drop(r);
        self.cv.notify_all();
    }

    /// The sequence number the next event will get: a subscriber that only wants what
    /// happens from now on starts there.
    pub fn cursor(&self) -> u64 {
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).next
    }

    /// Events kept in the ring (oldest first) and the cursor after them.
    pub fn history(&self) -> (Vec<Event>, u64) {
        let r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        (r.buf.iter().map(|(_, e)| e.clone()).collect(), r.next)
    }

    /// Events from `cursor` on, waiting up to `timeout` for one if there is none yet; and
    /// the cursor to pass next time.
    pub fn wait(&self, cursor: u64, timeout: Duration) -> (Vec<Event>, u64) {
        let r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let (r, _) = self
            .cv
            .wait_timeout_while(r, timeout, |r| r.next <= cursor)
            .unwrap_or_else(|p| p.into_inner());
        let list = r
            .buf
            .iter()
            .filter(|(seq, _)| *seq >= cursor)
            .map(|(_, e)| e.clone())
            .collect();
        (list, r.next.max(cursor))
    }
}

/// Docker's `filters` for events: within a key any value matches, all keys must match.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub by_key: BTreeMap<String, Vec<String>>,
}

impl Filter {
    /// From the `filters` query parameter (`{"type":["container"],"event":["start"]}`; the
    /// old `{"type":{"container":true}}` form too).
    pub fn parse(json: &str) -> Result<Filter, String> {
        if json.trim().is_empty() {
            return Ok(Filter::default());
        }
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("invalid filter: {e}"))?;
        let obj = v.as_object().ok_or("invalid filter: not an object")?;
        let mut by_key = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                _ => return Err(format!("invalid filter: value of {k:?}")),
            };
            if !matches!(
                k.as_str(),
                "container"
                    | "event"
                    | "image"
                    | "label"
                    | "type"
                    | "volume"
                    | "network"
                    | "daemon"
                    | "scope"
                    | "node"
                    | "service"
                    | "plugin"
                    | "config"
                    | "secret"
            ) {
                return Err(format!("invalid filter '{k}'"));
            }
            by_key.insert(k.clone(), list);
        }
        Ok(Filter { by_key })
    }

    fn any(&self, key: &str, f: impl Fn(&str) -> bool) -> bool {
        self.by_key
            .get(key)
            .is_none_or(|vals| vals.is_empty() || vals.iter().any(|v| f(v)))
    }

    pub fn matches(&self, e: &Event) -> bool {
        let name = e.attributes.get("name").map(String::as_str).unwrap_or("");
        let image = e.attributes.get("image").map(String::as_str).unwrap_or("");
        // "health_status: healthy" matches the event filter "health_status".
        let base_action = e.action.split(':').next().unwrap_or("");
        self.any("type", |t| t == e.typ)
            && self.any("event", |a| a == e.action || a == base_action)
            && self.any("scope", |s| s == "local")
            && self.any("container", |c| {
                e.typ == "container" && (c == name || (c.len() >= 1 && e.id.starts_with(c)))
            })
            && self.any("image", |i| {
                (e.typ == "container" && image_matches(image, i))
                    || (e.typ == "image" && (image_matches(&e.id, i) || image_matches(name, i)))
            })
            && self.any("volume", |v| e.typ == "volume" && (v == e.id || v == name))
            && self.any("network", |n| {
                e.typ == "network" && (e.id.starts_with(n) || n == name)
            })
            && self.any("daemon", |_| e.typ == "daemon")
            && self.any("label", |l| match l.split_once('=') {
                Some((k, v)) => e.attributes.get(k).is_some_and(|x| x == v),
                None => e.attributes.contains_key(l),
            })
    }
}

/// `busybox` matches `busybox`, `busybox:latest` and `docker.io/library/busybox:latest`.
fn image_matches(have: &str, want: &str) -> bool {
    if have == want {
        return true;
    }
    let strip = |s: &str| {
        let s = s.strip_prefix("docker.io/").unwrap_or(s);
        let s = s.strip_prefix("library/").unwrap_or(s);
        s.strip_suffix(":latest").unwrap_or(s).to_string()
    };
    strip(have) == strip(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, name: &str) -> Event {
        Event::new("container", action, format!("{name}0123456789"))
            .attr("name", name)
            .attr("image", "busybox:latest")
    }

    #[test]
    fn the_ring_keeps_the_last_events_and_subscribers_read_by_cursor() {
        let events = Events::default();
        let start = events.cursor();
        for i in 0..HISTORY + 10 {
            events.publish(ev("start", &format!("c{i}")));
        }
        let (hist, cursor) = events.history();
        assert_eq!(hist.len(), HISTORY);
        assert_eq!(hist[0].attributes["name"], "c10");
        let (got, next) = events.wait(cursor, Duration::from_millis(10));
        assert!(got.is_empty());
        assert_eq!(next, cursor);
        events.publish(ev("die", "x"));
        let (got, next) = events.wait(cursor, Duration::from_secs(5));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].action, "die");
        assert_eq!(next, cursor + 1);
        // A subscriber far behind gets what the ring still has.
        let (got, _) = events.wait(start, Duration::from_millis(1));
        assert_eq!(got.len(), HISTORY);
    }

    #[test]
    fn a_waiting_subscriber_wakes_on_publish() {
        let events = std::sync::Arc::new(Events::default());
        let cursor = events.cursor();
        let e2 = events.clone();
        let t = std::thread::spawn(move || e2.wait(cursor, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(50));
        events.publish(ev("create", "late"));
        let (got, _) = t.join().unwrap();
        assert_eq!(got[0].attributes["name"], "late");
    }

    #[test]
    fn filters_match_as_docker_s() {
        let f = Filter::parse(r#"{"type":["container"],"event":["start","die"]}"#).unwrap();
        assert!(f.matches(&ev("start", "web")));
        assert!(!f.matches(&ev("create", "web")));
        let f = Filter::parse(r#"{"container":["web"]}"#).unwrap();
        assert!(f.matches(&ev("start", "web")));
        assert!(!f.matches(&ev("start", "db")));
        let f = Filter::parse(r#"{"container":["web01"]}"#).unwrap();
        assert!(f.matches(&ev("start", "web")), "id prefix");
        let f = Filter::parse(r#"{"image":["busybox"]}"#).unwrap();
        assert!(f.matches(&ev("start", "web")));
        let f = Filter::parse(r#"{"event":["health_status"]}"#).unwrap();
        assert!(f.matches(&ev("health_status: healthy", "web")));
        let f = Filter::parse(r#"{"label":["tier=web"]}"#).unwrap();
        assert!(!f.matches(&ev("start", "web")));
        assert!(f.matches(&ev("start", "web").attr("tier", "web")));
        let f = Filter::parse(r#"{"type":{"image":true}}"#).unwrap();
        assert!(!f.matches(&ev("start", "web")));
        assert!(Filter::parse(r#"{"bogus":["x"]}"#)
            .unwrap_err()
            .contains("invalid filter 'bogus'"));
        assert!(Filter::parse("{").is_err());
    }

    #[test]
    fn docker_json_shape() {
        let v = ev("die", "web").attr("exitCode", "3").to_docker();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["status"], "die");
        assert_eq!(v["from"], "busybox:latest");
        assert_eq!(v["Actor"]["Attributes"]["exitCode"], "3");
        assert_eq!(
            v["time"].as_i64().unwrap(),
            v["timeNano"].as_i64().unwrap() / 1_000_000_000
        );
        let v = Event::new("volume", "create", "data").to_docker();
        assert!(v.get("status").is_none());
    }
}

impl crate::engine::Engine {
    /// Publish a container event: its name, image and labels as attributes, plus `extra`.
    pub fn emit(&self, c: &crate::container::Container, action: &str, extra: &[(&str, String)]) {
        let mut e = Event::new("container", action, c.id.clone())
            .attr("name", c.name.trim_start_matches('/'))
            .attr("image", c.image_name.clone());
        if let Some(labels) = c.config["Labels"].as_object() {
            for (k, v) in labels {
                if let Some(v) = v.as_str() {
                    e = e.attr(k, v);
                }
            }
        }
        for (k, v) in extra {
            e = e.attr(k, v.clone());
        }
        self.events.publish(e);
    }
}
