//! The Python oracle of the wire-conformance tests, shared by every test binary that checks what
//! nanotel puts on the wire: `tests/conformance.rs` (the schema) and the per-signal tests that
//! check what the SDK itself builds. See `tests/conformance.rs` for what each check proves.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fmt::Debug;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use nanotel::proto::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use nanotel::proto::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use nanotel::proto::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// An OTLP message the Python helper knows by its short protobuf name.
pub(crate) trait Otlp: Message + Default + Serialize + DeserializeOwned + Debug {
    const NAME: &'static str;
}

macro_rules! otlp {
    ($($message:ident),* $(,)?) => {
        $(impl Otlp for $message {
            const NAME: &'static str = stringify!($message);
        })*
    };
}

otlp!(
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
);

/// What the helper answers (see the docstring of `otlp_python.py`).
#[derive(Deserialize)]
pub(crate) struct Reply {
    /// Hex of the message's protobuf encoding, without unknown fields.
    pub protobuf: String,
    /// The message's OTLP/JSON text (hex ids, integer enums).
    pub json: String,
    /// Schema fields (`package.Message.field`) that no message in the tree sets.
    unset_fields: Vec<String>,
    /// Non-zero enum values no enum field in the tree holds.
    missing_enum_values: Vec<String>,
    /// Hex of the fixture's encoding with unknown fields added throughout (`fixture` only).
    #[serde(default)]
    protobuf_with_unknown_fields: Option<String>,
}

impl Reply {
    pub(crate) fn protobuf(&self) -> Vec<u8> {
        unhex(&self.protobuf)
    }

    pub(crate) fn assert_covers_schema(&self, what: &str) {
        assert!(
            self.unset_fields.is_empty() && self.missing_enum_values.is_empty(),
            "{what} does not cover the schema of the pinned Python package:\n  fields never set: \
             {:?}\n  enum values never used: {:?}",
            self.unset_fields,
            self.missing_enum_values
        );
    }
}

/// The Python interpreter of the conformance venv, when the environment names one.
pub(crate) struct Oracle {
    python: OsString,
}

impl Oracle {
    /// The oracle, or `None` (after saying so) when the test is to be skipped.
    pub(crate) fn get() -> Option<Oracle> {
        match std::env::var_os("NANOTEL_PYTHON") {
            Some(python) if !python.is_empty() => Some(Oracle { python }),
            _ => {
                let required = std::env::var("NANOTEL_REQUIRE_CONFORMANCE").is_ok_and(|v| v == "1");
                assert!(
                    !required,
                    "NANOTEL_REQUIRE_CONFORMANCE=1 but NANOTEL_PYTHON is not set: run \
                     scripts/setup-python.sh and set NANOTEL_PYTHON to the path it prints"
                );
                // Straight to stderr: libtest captures print!/eprint! of passing tests, and a
                // silent skip would read as a pass.
                let _ = writeln!(
                    std::io::stderr(),
                    "conformance test skipped: run scripts/setup-python.sh and set NANOTEL_PYTHON \
                     to the python it prints"
                );
                None
            }
        }
    }

    /// The venv's interpreter, for helpers that run as servers rather than one command.
    pub(crate) fn python(&self) -> &std::ffi::OsStr {
        &self.python
    }

    /// Runs one helper command on `input` and parses its reply.
    pub(crate) fn call(&self, command: &str, message: &str, input: &[u8]) -> Reply {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/otlp_python.py");
        let mut child = Command::new(&self.python)
            .arg(&script)
            .args([command, message])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {:?}: {err}", self.python));
        let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            panic!("the helper's pipes were not created");
        };
        // Feed stdin and drain stdout/stderr concurrently so neither side can block on a full pipe.
        let (out, err) = std::thread::scope(|scope| {
            scope.spawn(move || {
                // A helper that exits before reading all its input reports why on stderr.
                let _ = stdin.write_all(input);
            });
            let err = scope.spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            });
            let mut out = Vec::new();
            let read = stdout.read_to_end(&mut out);
            (read.map(|_| out), err.join().unwrap_or_default())
        });
        let status = child.wait().unwrap_or_else(|e| panic!("waiting for the helper: {e}"));
        assert!(status.success(), "otlp_python.py {command} {message} failed ({status}):\n{err}");
        let out = out.unwrap_or_else(|e| panic!("reading the helper's output: {e}"));
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("otlp_python.py {command} {message}: unreadable reply: {e}"))
    }
}

pub(crate) fn unhex(text: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("the helper sent non-hex protobuf: {:?}", c as char),
    };
    assert!(text.len().is_multiple_of(2), "the helper sent an odd number of hex digits");
    text.as_bytes().chunks_exact(2).map(|pair| digit(pair[0]) << 4 | digit(pair[1])).collect()
}

pub(crate) fn decode<T: Otlp>(check: &str, bytes: &[u8]) -> T {
    T::decode(bytes).unwrap_or_else(|e| panic!("{check}: prost cannot decode {}: {e}", T::NAME))
}

pub(crate) fn from_json<T: Otlp>(check: &str, json: &str) -> T {
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("{check}: our serde cannot read Python's OTLP/JSON {}: {e}", T::NAME))
}

/// Asserts two messages are equal, comparing their `Debug` text rather than with `==`: NaN is not
/// equal to itself, and the fixtures carry NaNs on purpose. Rust prints every other double in its
/// shortest round-trip form (and -0.0 as such), so equal text means equal values.
///
/// On a difference, names the first differing line and the fields enclosing it.
pub(crate) fn assert_same<T: Debug>(check: &str, expected: &T, actual: &T) {
    let expected = format!("{expected:#?}");
    let actual = format!("{actual:#?}");
    if expected == actual {
        return;
    }
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let at = expected.iter().zip(&actual).position(|(e, a)| e != a).unwrap_or(expected.len().min(actual.len()));
    panic!(
        "{check}: values differ\n  at:       {}\n  expected: {}\n  got:      {}",
        enclosing(&expected, at),
        expected.get(at).map_or("<end>", |l| l.trim()),
        actual.get(at).map_or("<end>", |l| l.trim()),
    );
}

/// The chain of struct/field lines that enclose line `at` of a pretty `Debug` dump, with the
/// `key` or `name` of each enclosing message (an attribute's key, a span's or metric's name) so
/// the report says which element of a list differs.
fn enclosing(lines: &[&str], at: usize) -> String {
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut level = lines.get(at).map_or(0, |l| indent(l));
    let mut labelled = false;
    let mut chain = Vec::new();
    for line in lines[..at.min(lines.len())].iter().rev() {
        let trimmed = line.trim();
        if indent(line) < level {
            chain.push(trimmed);
            level = indent(line);
            labelled = false;
        } else if indent(line) == level && !labelled && (trimmed.starts_with("key: ") || trimmed.starts_with("name: "))
        {
            chain.push(trimmed);
            labelled = true;
        }
    }
    chain.reverse();
    chain.join(" ")
}

/// The first place two JSON trees differ, as a JSON path, with both values there.
fn json_difference(path: &str, expected: &Json, actual: &Json) -> Option<String> {
    match (expected, actual) {
        (Json::Object(e), Json::Object(a)) => {
            let mut keys: Vec<&String> = e.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let path = format!("{path}.{key}");
                match (e.get(key), a.get(key)) {
                    (Some(e), Some(a)) => json_difference(&path, e, a),
                    (e, a) => Some(format!("{path}: Python has {e:?}, we have {a:?}")),
                }
            })
        }
        (Json::Array(e), Json::Array(a)) if e.len() == a.len() => {
            e.iter().zip(a).enumerate().find_map(|(i, (e, a))| json_difference(&format!("{path}[{i}]"), e, a))
        }
        _ if expected == actual => None,
        _ => Some(format!("{path}: Python has {expected}, we have {actual}")),
    }
}

/// (a): our protobuf through Python and back, and Python's OTLP/JSON of it through our serde.
pub(crate) fn check_protobuf<T: Otlp>(oracle: &Oracle, original: &T, full: bool) {
    let reply = oracle.call("from-protobuf", T::NAME, &original.encode_to_vec());
    if full {
        reply.assert_covers_schema(&format!("our {} fixture", T::NAME));
    }
    let check = format!("(a) {}: our protobuf -> Python -> protobuf", T::NAME);
    assert_same(&check, original, &decode::<T>(&check, &reply.protobuf()));
    let check = format!("(a) {}: our protobuf -> Python -> OTLP/JSON -> our serde", T::NAME);
    assert_same(&check, original, &from_json::<T>(&check, &reply.json));
}

/// (b): our OTLP/JSON through Python's strict parser and back as protobuf; and our JSON is the
/// canonical form Python writes for the same message.
pub(crate) fn check_json<T: Otlp>(oracle: &Oracle, original: &T) {
    let ours =
        serde_json::to_string(original).unwrap_or_else(|e| panic!("(b) {}: our serde cannot write it: {e}", T::NAME));
    let reply = oracle.call("from-json", T::NAME, ours.as_bytes());
    let check = format!("(b) {}: our OTLP/JSON -> Python (strict) -> protobuf", T::NAME);
    assert_same(&check, original, &decode::<T>(&check, &reply.protobuf()));

    let parse = |text: &str| -> Json {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("(b) {}: not JSON: {e}", T::NAME))
    };
    if let Some(difference) = json_difference("$", &parse(&reply.json), &parse(&ours)) {
        panic!("(b) {}: our OTLP/JSON is not the canonical form: {difference}", T::NAME);
    }
}

/// (c): Python's own message, with unknown fields everywhere, through prost and through our serde.
/// Returns the decoded message for signal-specific assertions.
pub(crate) fn check_python_fixture<T: Otlp>(oracle: &Oracle) -> T {
    let reply = oracle.call("fixture", T::NAME, b"");
    reply.assert_covers_schema(&format!("the Python {} fixture", T::NAME));
    let Some(with_unknown) = reply.protobuf_with_unknown_fields.as_deref().map(unhex) else {
        panic!("(c) {}: the helper sent no bytes with unknown fields", T::NAME);
    };
    let known = reply.protobuf();
    assert!(
        with_unknown.len() > known.len(),
        "(c) {}: the fixture carries no unknown fields, so skipping them is untested",
        T::NAME
    );

    let check = format!("(c) {}: Python protobuf with unknown fields -> prost", T::NAME);
    let decoded = decode::<T>(&check, &with_unknown);
    let check_json =
        format!("(c) {}: prost of Python's protobuf (expected) vs our serde of its OTLP/JSON (got)", T::NAME);
    assert_same(&check_json, &decoded, &from_json::<T>(&check_json, &reply.json));
    let check_known = format!("(c) {}: prost, with vs without unknown fields", T::NAME);
    assert_same(&check_known, &decode::<T>(&check_known, &known), &decoded);

    // Judged by Python itself: our re-encoding is the very message it built.
    let again = oracle.call("from-protobuf", T::NAME, &decoded.encode_to_vec());
    assert!(again.json == reply.json, "(c) {}: Python reads our re-encoding of its message differently", T::NAME);
    decoded
}
