//! What the process can learn about itself and its machine at startup, without privileges: each
//! value is a file read or a compile-time constant, and a value that cannot be had is left out.

use std::path::Path;
use std::sync::OnceLock;

/// The machine's name, from the kernel (`/proc/sys/kernel/hostname`), else `/etc/hostname`.
pub(crate) fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"].iter().find_map(|path| {
        let text = std::fs::read_to_string(path).ok()?;
        let name = text.trim();
        (!name.is_empty()).then(|| name.to_owned())
    })
}

/// `host.arch` in the semantic conventions' words, or Rust's name for an architecture they lack.
pub(crate) fn host_arch() -> &'static str {
    semconv_arch(std::env::consts::ARCH)
}

fn semconv_arch(rust_arch: &'static str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm32",
        "x86" => "x86",
        "powerpc" => "ppc32",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// `os.type` in the semantic conventions' words, or Rust's name for a system they lack.
pub(crate) fn os_type() -> &'static str {
    semconv_os(std::env::consts::OS)
}

fn semconv_os(rust_os: &'static str) -> &'static str {
    match rust_os {
        "macos" => "darwin",
        "dragonfly" => "dragonflybsd",
        "illumos" => "solaris",
        other => other,
    }
}

/// The base name of the running executable (the target of `/proc/self/exe` on Linux), else of
/// the command's first argument.
pub(crate) fn executable_name() -> Option<String> {
    let from_exe = std::env::current_exe().ok().and_then(|path| base_name(&path));
    from_exe.or_else(|| std::env::args_os().next().and_then(|arg0| base_name(Path::new(&arg0))))
}

fn base_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy();
    // Linux marks an executable replaced on disk while running; the process is still that program.
    let name = name.strip_suffix(" (deleted)").unwrap_or(&name);
    (!name.is_empty()).then(|| name.to_owned())
}

/// `service.instance.id`: a random UUID v4, the same for every resource made in this process.
pub(crate) fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| uuid_v4(rand::random()))
}

/// Formats 16 random bytes as a version 4, RFC 9562 variant UUID.
#[expect(clippy::format_collect, reason = "a short hex string, built off the hot path")]
fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = 0x40 | (bytes[6] & 0x0F);
    bytes[8] = 0x80 | (bytes[8] & 0x3F);
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The compiler that built the program, since Rust has no runtime of its own to name.
pub(crate) fn runtime_version() -> Option<&'static str> {
    option_env!("NANOTEL_RUSTC_VERSION")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v4_sets_version_and_variant_bits() {
        assert_eq!(uuid_v4([0xFF; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn instance_id_is_a_uuid_fixed_for_the_process() {
        let id = instance_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_eq!(instance_id(), id);
    }

    #[test]
    fn names_follow_the_semantic_conventions() {
        assert_eq!(semconv_arch("x86_64"), "amd64");
        assert_eq!(semconv_arch("aarch64"), "arm64");
        assert_eq!(semconv_arch("s390x"), "s390x");
        assert_eq!(semconv_os("macos"), "darwin");
        assert_eq!(semconv_os("linux"), "linux");
    }

    #[test]
    fn executable_base_name_drops_the_directory_and_deleted_mark() {
        assert_eq!(base_name(Path::new("/opt/desk/order-gateway (deleted)")).as_deref(), Some("order-gateway"));
        assert_eq!(base_name(Path::new("/usr/bin/md-handler")).as_deref(), Some("md-handler"));
        assert_eq!(base_name(Path::new("/")), None);
        let this_test = executable_name().unwrap();
        assert!(this_test.starts_with("nanotel"), "{this_test}");
    }

    #[test]
    fn host_name_is_read_when_the_kernel_has_one() {
        if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            assert_eq!(host_name().as_deref(), Some(kernel.trim()).filter(|name| !name.is_empty()));
        }
    }

    #[test]
    fn the_compiler_version_is_recorded() {
        let version = runtime_version().unwrap();
        assert!(version.split('.').count() >= 3 && version.starts_with('1'), "{version}");
    }
}
