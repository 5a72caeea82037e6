//! The Grafana release bundle built by `scripts/package-plugin.sh`: the zip's layout and file
//! modes, its `sha256sum -c` file, an install into a simulated Grafana plugins folder done the way
//! `grafana cli --pluginUrl <zip> plugins install <id>` extracts a zip, and the installed
//! executables answering Grafana's go-plugin handshake and serving a secret (the arm64 one under
//! qemu-user when the zip has it and `qemu-aarch64-static` is installed).
//!
//! By default the test packages the already-built test binary with `--skip-arm64` (no second
//! build). `PLUGIN_BUNDLE_ZIP=<zip>` checks a release zip instead (the release procedure runs
//! the script without `--skip-arm64`, then this test on its zip).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use plugin_support::{get, grafana_command, launch, set, Plugin};
use sha2::Digest;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
/// Where Debian's libc6-arm64-cross puts the aarch64 loader and libc (qemu's `-L`).
const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";
/// Debian's `nobody`: the plugin runs unprivileged, as Grafana's own user would run it.
const NOBODY: u32 = 65534;

/// The plugin id as plugin.json in the repository declares it.
fn repo_plugin_id() -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(REPO).join("plugin.json")).unwrap())
            .unwrap();
    json["id"].as_str().unwrap().to_owned()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A bundle zip under test and whether it was built here with `--skip-arm64`.
struct Bundle {
    zip: PathBuf,
    built_without_arm64: bool,
}

/// The zip under test: `PLUGIN_BUNDLE_ZIP`, or one the script packs from the test build's binary.
fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        if let Some(zip) = std::env::var_os("PLUGIN_BUNDLE_ZIP") {
            let zip = PathBuf::from(zip);
            assert!(zip.is_file(), "PLUGIN_BUNDLE_ZIP={zip:?} is not a file");
            println!("checking the given bundle {zip:?}");
            return Bundle {
                zip,
                built_without_arm64: false,
            };
        }
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package_bundle");
        let _ = std::fs::remove_dir_all(&out_dir);
        let started = Instant::now();
        let out = run(Command::new("bash")
            .arg(Path::new(REPO).join("scripts/package-plugin.sh"))
            .arg("--amd64-binary")
            .arg(plugin_support::BIN)
            .arg("--skip-arm64")
            .arg("--out")
            .arg(&out_dir));
        assert!(
            out.status.success(),
            "package-plugin.sh failed: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        println!(
            "package-plugin.sh --skip-arm64 took {:?}",
            started.elapsed()
        );
        assert!(
            text(&out.stderr).contains("WARNING: --skip-arm64"),
            "the skip is announced: {}",
            text(&out.stderr)
        );
        let zips: Vec<PathBuf> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "zip"))
            .collect();
        assert_eq!(zips.len(), 1, "one zip in {out_dir:?}: {zips:?}");
        Bundle {
            zip: zips.into_iter().next().unwrap(),
            built_without_arm64: true,
        }
    })
}

/// One member of a zip, as its central directory records it.
#[derive(Debug, Clone)]
struct ZipMember {
    name: String,
    /// The host system that wrote the entry (3 = Unix: `external_attrs >> 16` is `st_mode`).
    creator_os: u8,
    external_attrs: u32,
}

impl ZipMember {
    fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
    /// `st_mode` of a Unix-made entry (file type and permission bits).
    fn unix_mode(&self) -> u32 {
        assert_eq!(
            self.creator_os, 3,
            "{}: not written by a Unix zip, no Unix mode",
            self.name
        );
        self.external_attrs >> 16
    }
    fn is_symlink(&self) -> bool {
        self.creator_os == 3 && self.unix_mode() & 0o170000 == 0o120000
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a zip's central directory (the record Go's `archive/zip`, and so `grafana cli`, reads
/// names and modes from).
fn zip_members(zip: &[u8]) -> Vec<ZipMember> {
    // End of central directory: 22 bytes plus a comment of at most 64 KiB, at the very end.
    let eocd = (0..=zip.len().saturating_sub(22))
        .rev()
        .take(22 + 65_535)
        .find(|&i| u32_at(zip, i) == 0x0605_4b50)
        .expect("no end-of-central-directory record: not a zip");
    let count = u16_at(zip, eocd + 10) as usize;
    let offset = u32_at(zip, eocd + 16);
    assert_ne!(
        offset,
        u32::MAX,
        "zip64 central directory (bundle too large?)"
    );
    let mut at = offset as usize;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        assert_eq!(
            u32_at(zip, at),
            0x0201_4b50,
            "central directory header at {at}"
        );
        let name_len = u16_at(zip, at + 28) as usize;
        let extra_len = u16_at(zip, at + 30) as usize;
        let comment_len = u16_at(zip, at + 32) as usize;
        members.push(ZipMember {
            name: String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap(),
            creator_os: zip[at + 5],
            external_attrs: u32_at(zip, at + 38),
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    members
}

/// The contents of one member (Info-ZIP's `unzip -p` inflates it).
fn member_bytes(zip: &Path, name: &str) -> Vec<u8> {
    let out = run(Command::new("unzip").arg("-p").arg(zip).arg(name));
    assert!(
        out.status.success(),
        "unzip -p {name}: {}",
        text(&out.stderr)
    );
    out.stdout
}

/// The first `n` bytes of one member (the rest is not inflated).
fn member_head(zip: &Path, name: &str, n: usize) -> Vec<u8> {
    let mut child = Command::new("unzip")
        .arg("-p")
        .arg(zip)
        .arg(name)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = vec![0; n];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head)
        .unwrap_or_else(|e| panic!("{name}: first {n} bytes: {e}"));
    let _ = child.kill();
    let _ = child.wait();
    head
}

/// The suffixes `grafana cli` makes executable (0755) whatever the zip says, as Grafana's
/// pkg/plugins/storage extractFile does.
const GRAFANA_EXECUTABLE_SUFFIXES: [&str; 6] = [
    "_linux_amd64",
    "_linux_arm",
    "_linux_arm64",
    "_darwin_amd64",
    "_darwin_arm64",
    "_windows_amd64.exe",
];

/// `grafana cli --pluginUrl <zip> plugins install <plugin_id>` into `plugins_dir`, step for step
/// as Grafana's pkg/plugins/storage does it: the existing install is removed; members that
/// would land outside the plugins folder are refused; the first path segment (any
/// `[A-Za-z0-9_.-]*/`) is replaced by the plugin id; directories get 0755; files keep the
/// zip's mode, except the backend executables by name, which get 0755. Returns the plugin's
/// folder.
fn grafana_cli_install(zip: &Path, plugins_dir: &Path, plugin_id: &str) -> PathBuf {
    let install_dir = plugins_dir.join(plugin_id);
    if install_dir.exists() {
        std::fs::remove_dir_all(&install_dir).unwrap();
    }
    let members = zip_members(&std::fs::read(zip).unwrap());
    for m in &members {
        assert!(
            !m.name.starts_with('/') && !m.name.split('/').any(|s| s == ".."),
            "grafana cli refuses member {:?} (outside the plugins folder)",
            m.name
        );
        // Grafana's regexp `^[a-zA-Z0-9_.-]*/`: the top folder, whatever its name.
        let top_len = m
            .name
            .find('/')
            .filter(|&i| {
                m.name[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            })
            .map(|i| i + 1);
        let relative = match top_len {
            Some(n) => format!("{plugin_id}/{}", &m.name[n..]),
            None => m.name.clone(),
        };
        let dst = plugins_dir.join(relative.trim_end_matches('/'));
        assert!(
            dst.starts_with(&install_dir),
            "member {:?} would be installed at {dst:?}, outside {install_dir:?}",
            m.name
        );
        if m.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
            continue;
        }
        assert!(!m.is_symlink(), "{}: symlinks are not expected", m.name);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        let mode = if GRAFANA_EXECUTABLE_SUFFIXES
            .iter()
            .any(|s| dst.to_str().unwrap().ends_with(s))
        {
            0o755
        } else {
            m.unix_mode() & 0o777
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&dst)
            .unwrap();
        std::io::Write::write_all(&mut file, &member_bytes(zip, &m.name)).unwrap();
    }
    install_dir
}

/// Grafana's plugin.json lookup (`plugin.json`, else `dist/plugin.json`) and its checks.
fn grafana_read_plugin_json(install_dir: &Path) -> serde_json::Value {
    let path = [
        install_dir.join("plugin.json"),
        install_dir.join("dist/plugin.json"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .unwrap_or_else(|| panic!("no plugin.json or dist/plugin.json in {install_dir:?}"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).expect("plugin.json is JSON")
}

/// What Grafana's ExecutablePath gives for a secretsmanager plugin on linux/`goarch`.
fn grafana_executable_path(install_dir: &Path, goarch: &str) -> PathBuf {
    install_dir.join(format!("secrets_plugin_start_linux_{goarch}"))
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// A simulated Grafana host: `<home>/plugins` (the plugins folder), `<home>/data` and
/// `<home>/sockets` for the plugin, owned by `nobody` when the test runs as root.
struct GrafanaHome {
    dir: tempfile::TempDir,
}

impl GrafanaHome {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["plugins", "data", "sockets"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        if running_as_root() {
            for sub in ["data", "sockets"] {
                std::os::unix::fs::chown(dir.path().join(sub), Some(NOBODY), Some(NOBODY)).unwrap();
            }
        }
        Self { dir }
    }
    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Launches `program args..` with the environment `grafana_command` gives (magic cookie,
    /// protocol versions, port range, socket dir, `GF_*`), from Grafana's working directory,
    /// as `nobody` when the test is root; waits for the handshake line.
    fn launch(&self, program: &Path, args: &[OsString]) -> Plugin {
        let template = grafana_command(&self.path("data"), &self.path("sockets"), &[]);
        let mut cmd = Command::new(program);
        cmd.args(args);
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.current_dir(self.dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if running_as_root() {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        launch(cmd)
    }
}

/// The handshake Grafana expects, then a secret stored and read back over the announced
/// socket, then GRPCController/Shutdown ends the process.
async fn assert_serves_like_a_grafana_plugin(mut plugin: Plugin, label: &str) {
    let hs = plugin.handshake.clone();
    hs.assert_grafana_grpc_over_unix(label);
    println!("{label}: handshake {hs:?}");
    // The process runs as the unprivileged user when the test is root: its socket is theirs.
    let expected_uid = if running_as_root() {
        NOBODY
    } else {
        std::fs::metadata("/proc/self").unwrap().uid()
    };
    assert_eq!(
        std::fs::metadata(&hs.address).unwrap().uid(),
        expected_uid,
        "{label}: owner of the plugin's socket"
    );
    let mut client = plugin.client().await;
    assert_eq!(
        set(&mut client, 1, "bundle-check", "stored-through-the-bundle").await,
        "",
        "{label}: SetSecret"
    );
    let got = get(&mut client, 1, "bundle-check").await;
    assert!(got.exists, "{label}: GetSecret finds the secret");
    assert_eq!(got.decrypted_value, "stored-through-the-bundle", "{label}");
    drop(client);
    let channel = plugin.channel().await;
    let (took, status) = plugin.shutdown(channel).await;
    assert!(
        status.success(),
        "{label}: exit status after Shutdown {status:?}"
    );
    println!("{label}: Shutdown ended the process in {took:?}");
}

#[test]
fn zip_layout_modes_and_checksum() {
    let bundle = bundle();
    let plugin_id = repo_plugin_id();
    let zip_bytes = std::fs::read(&bundle.zip).unwrap();
    let zip_name = bundle.zip.file_name().unwrap().to_str().unwrap();

    // The SHA-256 file next to the zip: `<hex>  <zip file name>`, and sha256sum -c accepts it.
    let sha_path = bundle.zip.with_file_name(format!("{zip_name}.sha256"));
    let sha_line =
        std::fs::read_to_string(&sha_path).unwrap_or_else(|e| panic!("{sha_path:?}: {e}"));
    let expected = format!(
        "{}  {zip_name}\n",
        hex::encode(sha2::Sha256::digest(&zip_bytes))
    );
    assert_eq!(sha_line, expected, "{sha_path:?}");
    let check = run(Command::new("sha256sum")
        .arg("-c")
        .arg(sha_path.file_name().unwrap())
        .current_dir(bundle.zip.parent().unwrap()));
    assert!(
        check.status.success(),
        "sha256sum -c: {}{}",
        text(&check.stdout),
        text(&check.stderr)
    );

    let members = zip_members(&zip_bytes);
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    println!("members: {names:?}");
    // Everything under one top folder named after the plugin id.
    for m in &members {
        assert!(
            m.name.starts_with(&format!("{plugin_id}/")),
            "member {:?} is not under the top folder {plugin_id}/",
            m.name
        );
        assert!(!m.is_symlink(), "{}: symlink", m.name);
        let mode = m.unix_mode();
        if m.is_dir() {
            assert_eq!(
                mode & 0o170000,
                0o040000,
                "{}: directory mode {mode:o}",
                m.name
            );
            assert_eq!(mode & 0o777, 0o755, "{}: directory mode {mode:o}", m.name);
        } else {
            assert_eq!(
                mode & 0o170000,
                0o100000,
                "{}: regular file {mode:o}",
                m.name
            );
        }
    }
    let member = |rel: &str| {
        let name = format!("{plugin_id}/{rel}");
        members
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} missing from the zip: {names:?}"))
            .clone()
    };
    for rel in ["plugin.json", "README.md", "LICENSE", "img/logo.svg"] {
        let m = member(rel);
        assert_eq!(m.unix_mode() & 0o777, 0o644, "{rel}");
        assert_eq!(
            member_bytes(&bundle.zip, &m.name),
            std::fs::read(Path::new(REPO).join(rel)).unwrap(),
            "{rel} in the zip is the repository's"
        );
    }
    let licence = text(&member_bytes(&bundle.zip, &format!("{plugin_id}/LICENSE")));
    assert!(licence.contains("Apache License") && licence.contains("Version 2.0"));

    let mut executables = vec![("amd64", 0x3e_u16)];
    let has_arm64 =
        names.contains(&format!("{plugin_id}/secrets_plugin_start_linux_arm64").as_str());
    if bundle.built_without_arm64 {
        assert!(!has_arm64, "--skip-arm64 left the arm64 executable out");
    } else {
        assert!(
            has_arm64,
            "a release bundle has secrets_plugin_start_linux_arm64"
        );
    }
    if has_arm64 {
        executables.push(("arm64", 0xb7));
    }
    for (goarch, elf_machine) in executables {
        let m = member(&format!("secrets_plugin_start_linux_{goarch}"));
        assert_eq!(
            m.unix_mode() & 0o777,
            0o755,
            "{}: executable bits in the zip",
            m.name
        );
        let bytes = member_head(&bundle.zip, &m.name, 20);
        assert_eq!(&bytes[..4], b"\x7fELF", "{}", m.name);
        assert_eq!(
            u16::from_le_bytes([bytes[18], bytes[19]]),
            elf_machine,
            "{}: ELF machine",
            m.name
        );
    }
    // Nothing else: no stray build output in the bundle.
    let mut expected_names = vec![
        format!("{plugin_id}/"),
        format!("{plugin_id}/img/"),
        format!("{plugin_id}/plugin.json"),
        format!("{plugin_id}/README.md"),
        format!("{plugin_id}/LICENSE"),
        format!("{plugin_id}/img/logo.svg"),
        format!("{plugin_id}/secrets_plugin_start_linux_amd64"),
    ];
    if has_arm64 {
        expected_names.push(format!("{plugin_id}/secrets_plugin_start_linux_arm64"));
    }
    let mut got_names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    got_names.sort();
    expected_names.sort();
    assert_eq!(got_names, expected_names);
}

/// The bundle, installed by `grafana cli` into a fresh Grafana home: (plugin id, the home, the
/// plugin's folder).
fn installed_by_grafana_cli() -> (String, GrafanaHome, PathBuf) {
    let plugin_id = repo_plugin_id();
    let home = GrafanaHome::new();
    let install_dir = grafana_cli_install(&bundle().zip, &home.path("plugins"), &plugin_id);
    (plugin_id, home, install_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_cli_install_then_amd64_handshake() {
    let bundle = bundle();
    let (plugin_id, home, install_dir) = installed_by_grafana_cli();
    assert_eq!(install_dir, home.path("plugins").join(&plugin_id));

    let json = grafana_read_plugin_json(&install_dir);
    assert_eq!(json["id"], plugin_id.as_str());
    assert_eq!(
        json["type"], "secretsmanager",
        "Grafana runs secrets_plugin_start_* only for this type"
    );
    assert_eq!(json["backend"], true);
    assert!(json["info"]["version"].is_string(), "info.version");
    if let Some(executable) = json.get("executable") {
        assert_eq!(
            executable, "secrets_plugin_start",
            "executable in plugin.json"
        );
    }
    assert!(install_dir.join("README.md").is_file());
    assert!(install_dir.join("LICENSE").is_file());

    let exe = grafana_executable_path(&install_dir, "amd64");
    let mode = std::fs::metadata(&exe)
        .unwrap_or_else(|e| panic!("{exe:?}: {e}"))
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o111,
        0o111,
        "{exe:?} executable by Grafana's user: {mode:o}"
    );
    // Byte for byte the binary that went in (the test build's, when the test packed it).
    if bundle.built_without_arm64 {
        assert_eq!(
            std::fs::read(&exe).unwrap(),
            std::fs::read(plugin_support::BIN).unwrap()
        );
    }

    let started = Instant::now();
    let plugin = home.launch(&exe, &[]);
    println!("amd64: handshake after {:?}", started.elapsed());
    assert_serves_like_a_grafana_plugin(plugin, "amd64").await;
}

/// `qemu-aarch64-static` on PATH, or why not.
fn qemu_aarch64() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let qemu = std::env::split_paths(&path)
        .map(|d| d.join("qemu-aarch64-static"))
        .find(|p| p.is_file())
        .ok_or("qemu-aarch64-static not on PATH (Debian: apt-get install qemu-user-static)")?;
    if !Path::new(ARM64_SYSROOT)
        .join("lib/ld-linux-aarch64.so.1")
        .is_file()
    {
        return Err(format!(
            "no aarch64 loader in {ARM64_SYSROOT} (Debian: apt-get install libc6-arm64-cross)"
        ));
    }
    Ok(qemu)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_cli_install_then_arm64_handshake_under_qemu() {
    let bundle = bundle();
    let (_, home, install_dir) = installed_by_grafana_cli();
    let exe = grafana_executable_path(&install_dir, "arm64");
    if !exe.exists() {
        assert!(
            bundle.built_without_arm64,
            "a release bundle must install {exe:?}"
        );
        println!(
            "SKIP arm64 handshake: the bundle was packed with --skip-arm64 (the cross build runs \
             in the release procedure: scripts/package-plugin.sh, then PLUGIN_BUNDLE_ZIP=<zip> \
             cargo test --test package_bundle)"
        );
        return;
    }
    let mode = std::fs::metadata(&exe).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "{exe:?}: {mode:o}");
    let qemu = match qemu_aarch64() {
        Ok(q) => q,
        Err(why) => {
            println!("SKIP arm64 handshake: {why}");
            return;
        }
    };
    let started = Instant::now();
    let plugin = home.launch(
        &qemu,
        &[
            "-L".into(),
            ARM64_SYSROOT.into(),
            exe.clone().into_os_string(),
        ],
    );
    println!("arm64 (qemu-user): handshake after {:?}", started.elapsed());
    assert_serves_like_a_grafana_plugin(plugin, "arm64 under qemu").await;
}

#[test]
fn missing_arm64_toolchain_is_named_and_leaves_no_zip() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(Command::new("bash")
        .arg(Path::new(REPO).join("scripts/package-plugin.sh"))
        .arg("--amd64-binary")
        .arg(plugin_support::BIN)
        .arg("--out")
        .arg(out_dir.path())
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            "/nonexistent/aarch64-linux-gnu-gcc",
        ));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("cannot cross-compile the arm64 executable")
            && stderr.contains("'/nonexistent/aarch64-linux-gnu-gcc'")
            && stderr.contains("--skip-arm64"),
        "the error names the missing linker and the way out: {stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}

#[test]
fn a_binary_of_the_wrong_architecture_is_refused() {
    let out_dir = tempfile::tempdir().unwrap();
    // The amd64 binary offered as the arm64 one, and a non-ELF file as the amd64 one.
    for (flag, path, says) in [
        (
            "--arm64-binary",
            plugin_support::BIN,
            "is x86_64, expected an aarch64",
        ),
        (
            "--amd64-binary",
            concat!(env!("CARGO_MANIFEST_DIR"), "/plugin.json"),
            "is not-elf, expected an x86_64",
        ),
    ] {
        let mut cmd = Command::new("bash");
        cmd.arg(Path::new(REPO).join("scripts/package-plugin.sh"))
            .arg(flag)
            .arg(path)
            .arg("--out")
            .arg(out_dir.path());
        if flag == "--arm64-binary" {
            cmd.arg("--amd64-binary").arg(plugin_support::BIN);
        } else {
            cmd.arg("--skip-arm64");
        }
        let out = run(&mut cmd);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.contains(says), "{flag}: {stderr}");
        let zips = std::fs::read_dir(out_dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "zip")
            })
            .count();
        assert_eq!(zips, 0, "{flag}: no zip written");
    }
}
