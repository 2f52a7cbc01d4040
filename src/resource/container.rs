//! `container.id`: the id a container runtime gave the container this process runs in.
//!
//! No interface names it, so it is recognised in the paths the kernel shows the process: first in
//! `/proc/self/cgroup` (cgroup v1, and v2 hosts that do not give containers a cgroup namespace),
//! then in `/proc/self/mountinfo`, where Docker, Podman and CRI-O mount the container's own
//! `hostname`/`resolv.conf` files from a directory named after it (cgroup v2 hosts). Only a full
//! 64-character lowercase hexadecimal id is taken, the form every runtime uses, so a host's
//! ordinary cgroups (`user-1000.slice`, `session-3.scope`) never produce one.

use std::fs::File;
use std::io::Read;

/// The length of a full container id in hexadecimal digits.
const ID_LEN: usize = 64;

/// More than any real `/proc/self/mountinfo` holds; a guard against reading without end.
const MAX_PROC_FILE: u64 = 4 * 1024 * 1024;

/// Prefixes container runtimes put right before the id in a cgroup path (systemd scope names and
/// containerd's systemd-driver form), as they appear in mountinfo when the cgroup is mounted.
const RUNTIME_PREFIXES: [&str; 5] = ["/crio-", "cri-containerd:", "cri-containerd-", "/docker-", "/libpod-"];

/// The container id, or `None` outside a container (or where the files cannot be read).
pub(crate) fn detect() -> Option<String> {
    read_proc_file("/proc/self/cgroup").and_then(|cgroup| container_id_from_cgroup(&cgroup)).or_else(|| {
        read_proc_file("/proc/self/mountinfo").and_then(|mountinfo| container_id_from_mountinfo(&mountinfo))
    })
}

fn read_proc_file(path: &str) -> Option<String> {
    let mut bytes = Vec::new();
    File::open(path).ok()?.take(MAX_PROC_FILE).read_to_end(&mut bytes).ok()?;
    // Paths need not be UTF-8; an id is ASCII, so replacing odd bytes cannot change one.
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The container id in the text of a `/proc/self/cgroup` file, from the first line that has one.
///
/// Each line is `hierarchy:controllers:path`. The id is the last segment of the path
/// (`/docker/<id>`, `/kubepods/besteffort/pod<uid>/<id>`), or inside it: after the last `:`
/// (containerd's systemd driver, `...slice:cri-containerd:<id>`), else between the last `-` and
/// the last `.` (systemd scopes: `docker-<id>.scope`, `cri-containerd-<id>.scope`,
/// `crio-<id>.scope`).
///
/// ```
/// use nanotel::internal::container_id_from_cgroup;
///
/// let id = "3601745b3bd54d9780436faa5f0e4f72bb46231663bb99a6bb892764917832c2";
/// let cgroup = format!("12:pids:/system.slice/docker-{id}.scope\n0::/system.slice/docker-{id}.scope\n");
/// assert_eq!(container_id_from_cgroup(&cgroup).as_deref(), Some(id));
/// assert_eq!(container_id_from_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n"), None);
/// ```
pub fn container_id_from_cgroup(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(id_from_cgroup_line)
}

fn id_from_cgroup_line(line: &str) -> Option<String> {
    // The path is the third field and may itself contain ':'.
    let path = line.trim_end().splitn(3, ':').nth(2)?;
    let last = path.rsplit('/').next().unwrap_or(path);
    let name = if let Some((_, after_colon)) = last.rsplit_once(':') {
        after_colon
    } else {
        let after_dash = last.rsplit_once('-').map_or(last, |(_, after)| after);
        after_dash.rsplit_once('.').map_or(after_dash, |(before, _)| before)
    };
    is_container_id(name).then(|| name.to_owned())
}

/// The container id in the text of a `/proc/self/mountinfo` file.
///
/// A runtime's prefix followed by an id in a mount's root (`/crio-<id>`, `cri-containerd:<id>`,
/// `cri-containerd-<id>`, `/docker-<id>`, `/libpod-<id>`) wins, the first in the file. Otherwise
/// the mounts onto `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` or `/run/.containerenv` from
/// a `/containers/` directory are searched, and the last id among their roots' path segments is
/// taken: Docker mounts `/var/lib/docker/containers/<id>/hostname`, Podman
/// `.../overlay-containers/<id>/userdata/hostname`. Kubernetes' sandbox directories hold the
/// pod's id, not the container's, and are not looked at.
///
/// ```
/// use nanotel::internal::container_id_from_mountinfo;
///
/// let id = "a6c41e4d3a0f1b7e44c1d0e5b0de43ab9c3f8ee3f7d0f0d04a73b1bd3a8b1e2f";
/// let mountinfo = format!(
///     "1193 1174 0:140 / / rw,relatime - overlay overlay rw\n\
///      1215 1193 8:1 /var/lib/docker/containers/{id}/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw\n"
/// );
/// assert_eq!(container_id_from_mountinfo(&mountinfo).as_deref(), Some(id));
/// assert_eq!(container_id_from_mountinfo("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"), None);
/// ```
#[must_use]
pub fn container_id_from_mountinfo(mountinfo: &str) -> Option<String> {
    let mounts = || mountinfo.lines().filter_map(root_and_mount_point);
    mounts().find_map(|(root, _)| id_after_runtime_prefix(root)).or_else(|| {
        mounts()
            .filter(|(root, mount_point)| CONTAINER_FILES.contains(mount_point) && root.contains("/containers/"))
            .flat_map(|(root, _)| root.split('/'))
            .rfind(|segment| is_container_id(segment))
            .map(str::to_owned)
    })
}

/// The files a runtime mounts into its container from the container's own directory. Only
/// mounts onto them are read: a host process's mountinfo (the host's mount namespace) lists every
/// container's other mounts under `/containers/` too (Docker's `.../containers/<id>/mounts/shm`,
/// Podman's `.../overlay-containers/<id>/userdata/shm`), and until session 40 the last of their
/// ids was taken for the host process's own.
const CONTAINER_FILES: [&str; 4] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/run/.containerenv"];

/// A mountinfo line's root (what of its file system is mounted) and mount point: its fourth and
/// fifth fields.
fn root_and_mount_point(line: &str) -> Option<(&str, &str)> {
    let mut fields = line.split(' ').skip(3);
    Some((fields.next()?, fields.next()?))
}

fn id_after_runtime_prefix(line: &str) -> Option<String> {
    RUNTIME_PREFIXES.iter().find_map(|prefix| {
        line.match_indices(prefix).find_map(|(at, _)| {
            let rest = line.as_bytes().get(at + prefix.len()..)?;
            let id = rest.get(..ID_LEN)?;
            // A longer run of hex digits is not an id that merely starts here.
            let ends = rest.get(ID_LEN).is_none_or(|next| !is_lower_hex(*next));
            (ends && id.iter().copied().all(is_lower_hex)).then(|| String::from_utf8_lossy(id).into_owned())
        })
    })
}

fn is_container_id(text: &str) -> bool {
    text.len() == ID_LEN && text.bytes().all(is_lower_hex)
}

fn is_lower_hex(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'a'..=b'f')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3601745b3bd54d9780436faa5f0e4f72bb46231663bb99a6bb892764917832c2";

    fn cgroup(text: &str) -> Option<String> {
        container_id_from_cgroup(&text.replace("<id>", ID))
    }

    fn mountinfo(text: &str) -> Option<String> {
        container_id_from_mountinfo(&text.replace("<id>", ID))
    }

    #[test]
    fn cgroup_v1_docker_path() {
        assert_eq!(cgroup("12:memory:/docker/<id>\n11:cpu,cpuacct:/docker/<id>\n").as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_kubepods_cgroupfs_driver() {
        let text = "10:cpuset:/kubepods/besteffort/pod2c8c8c6c-0c76-4b4e-a0b3-0f6b6bd2f9e1/<id>\n";
        assert_eq!(cgroup(text).as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_kubepods_systemd_driver_scopes() {
        for runtime in ["cri-containerd", "crio", "docker"] {
            let text = format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c8c8c6c_0c76.slice/{runtime}-<id>.scope\n"
            );
            assert_eq!(cgroup(&text).as_deref(), Some(ID), "{runtime}");
        }
    }

    #[test]
    fn cgroup_containerd_systemd_driver_colon_form() {
        let text =
            "1:name=systemd:/system.slice/containerd.service/kubepods-burstable-pod2c8c.slice:cri-containerd:<id>\n";
        assert_eq!(cgroup(text).as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_systemd_slice_docker_scope_and_ecs() {
        assert_eq!(cgroup("1:name=systemd:/system.slice/docker-<id>.scope").as_deref(), Some(ID));
        assert_eq!(cgroup("9:perf_event:/ecs/0a1b2c3d4e/<id>\r\n").as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_first_line_with_an_id_wins() {
        let other = "b".repeat(64);
        let text = format!("3:cpu:/user.slice\n2:pids:/docker/{ID}\n1:memory:/docker/{other}\n");
        assert_eq!(container_id_from_cgroup(&text).as_deref(), Some(ID));
    }

    #[test]
    fn cgroup_of_a_host_process_has_no_id() {
        for text in [
            "0::/init.scope\n",
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-5d2e.scope\n",
            "12:pids:/user.slice/user-1000.slice/session-2.scope\n1:name=systemd:/\n",
            "0::/\n",
            "",
            "garbage without colons",
        ] {
            assert_eq!(container_id_from_cgroup(text), None, "{text:?}");
        }
    }

    #[test]
    fn cgroup_rejects_ids_of_the_wrong_shape() {
        let upper = ID.to_ascii_uppercase();
        let short = &ID[..63];
        let long = format!("{ID}0");
        for id in [upper.as_str(), short, long.as_str()] {
            assert_eq!(container_id_from_cgroup(&format!("0::/docker/{id}\n")), None, "{id}");
        }
    }

    #[test]
    fn mountinfo_docker_hostname_mount() {
        let text = "\
1193 1174 0:140 / / rw,relatime master:312 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X
1213 1193 8:1 /var/lib/docker/containers/<id>/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/sda1 rw
1214 1193 8:1 /var/lib/docker/containers/<id>/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw
";
        assert_eq!(mountinfo(text).as_deref(), Some(ID));
    }

    #[test]
    fn mountinfo_podman_overlay_containers() {
        let text = "651 630 0:61 /containers/storage/overlay-containers/<id>/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n";
        assert_eq!(mountinfo(text).as_deref(), Some(ID));
    }

    #[test]
    fn mountinfo_runtime_prefixes_win_over_container_directories() {
        let other = "c".repeat(64);
        for prefix in ["/crio-", "cri-containerd:", "cri-containerd-", "/docker-", "/libpod-"] {
            let text = format!(
                "100 99 8:1 /var/lib/docker/containers/{other}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n\
                 101 99 0:30 /kubepods.slice/x.slice{prefix}{ID}.scope /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
            );
            assert_eq!(container_id_from_mountinfo(&text).as_deref(), Some(ID), "{prefix}");
        }
    }

    #[test]
    fn mountinfo_prefix_needs_exactly_an_id_after_it() {
        let text =
            format!("1 0 0:1 /crio-{ID}0 /x rw - tmpfs tmpfs rw\n2 0 0:1 /crio-{} /y rw - tmpfs t rw\n", &ID[1..]);
        assert_eq!(container_id_from_mountinfo(&text), None);
    }

    #[test]
    fn mountinfo_takes_the_last_id_under_containers() {
        let first = "d".repeat(64);
        let text = format!(
            "1 0 8:1 /var/lib/docker/containers/{first}/hosts /etc/hosts rw - ext4 /dev/sda1 rw\n\
             2 0 8:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
        );
        assert_eq!(container_id_from_mountinfo(&text).as_deref(), Some(ID));
    }

    #[test]
    fn mountinfo_ignores_ids_outside_container_directories() {
        // containerd's sandbox directory names the pod sandbox, not this container.
        let text = "\
2100 2090 0:26 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/<id>/hostname /etc/hostname rw - ext4 /dev/vda1 rw
2101 2090 0:26 /var/lib/kubelet/pods/2c8c8c6c-0c76-4b4e-a0b3-0f6b6bd2f9e1/containers/app/5d1e3f2a /dev/termination-log rw - ext4 /dev/vda1 rw
";
        assert_eq!(mountinfo(text), None);
    }

    #[test]
    fn mountinfo_of_a_host_has_no_id() {
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
";
        assert_eq!(mountinfo(text), None);
        assert_eq!(container_id_from_mountinfo(""), None);
    }

    /// A host process sees every container's mounts: none of them is its own.
    #[test]
    fn mountinfo_of_a_host_running_containers_has_no_id() {
        let layer = "e".repeat(64);
        let text = format!(
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
             310 22 0:55 / /var/lib/docker/containers/{ID}/mounts/shm rw - tmpfs shm rw,size=65536k\n\
             311 22 0:56 / /var/lib/containers/storage/overlay-containers/{ID}/userdata/shm rw - tmpfs shm rw\n\
             312 22 0:57 / /var/lib/containers/storage/overlay/{layer}/merged rw - overlay overlay rw\n"
        );
        assert_eq!(container_id_from_mountinfo(&text), None);
    }

    #[test]
    fn detection_on_this_machine_yields_an_id_or_nothing() {
        // Whether the tests run in a container is not known; the answer must be well formed.
        if let Some(id) = detect() {
            assert!(is_container_id(&id), "{id}");
        }
    }
}
