//! What the daemon and a shim say to each other. Attach streams use Docker's multiplexed
//! framing (8-byte header: stream, 0, 0, 0, big-endian length) unless the container has a tty.

use serde::{Deserialize, Serialize};

pub const SOCKET: &str = "shim.sock";
pub const EXIT_FILE: &str = "exit.json";

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Stream output (and accept stdin) on this connection after a `{}` reply line.
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Resize {
        height: u16,
        width: u16,
    },
    State,
    /// Reply (with the state) once the container has exited.
    Wait,
    Kill {
        signal: i32,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StateReply {
    pub pid: i32,
    pub running: bool,
    pub exit: Option<ExitInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitInfo {
    pub exit_code: i32,
    pub finished_at: String,
    pub oom_killed: bool,
}

/// Docker's stream header for `len` bytes of `stream` (0 stdin, 1 stdout, 2 stderr).
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let n = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, n[0], n[1], n[2], n[3]]
}
