//! The built plugin launched as Grafana launches it, as an unprivileged user, in each install
//! layout rebuilt under a temporary root: deb/rpm (working directory and `$HOME` a root-owned
//! `/usr/share/grafana`, plugins in `/var/lib/grafana/plugins`, no `GF_PATHS_DATA`), the Docker
//! image (`GF_PATHS_DATA` set) and the tarball (`<install>/data/plugins`). Each test checks the
//! handshake, a SetSecret/GetSecret round trip, where the data went and its modes, and that the
//! secrets are still there after the plugin's folder is replaced (an upgrade). The rest of the
//! start-up path is checked against the deb/rpm layout: an unset `$HOME`, a `TMPDIR` that is not
//! `/tmp` or does not exist, a `PLUGIN_UNIX_SOCKET_DIR` too long for a socket path.
//!
//! The plugin runs as uid/gid 65534 (`nobody`), which needs root; elsewhere each test prints why
//! it is skipped.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod plugin_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use plugin_support::*;

const PLUGIN_ID: &str = "secretsbroker-secretsmanager";
/// The executable name Grafana runs for a secretsmanager plugin.
const EXE_NAME: &str = "secrets_plugin_start_linux_amd64";
/// `nobody`: the unprivileged user the plugin runs as.
const UID: u32 = 65534;
const GID: u32 = 65534;

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid()).ok() == Some(0)
}

/// `None` (with the reason printed) when the test cannot run here.
fn root_or_skip(test: &str) -> Option<()> {
    if running_as_root() {
        Some(())
    } else {
        eprintln!("skipped {test}: launching the plugin as another user (uid {UID}) needs root");
        None
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Creates `dir` (and parents) owned by `uid` with mode `mode`.
fn make_dir(dir: &Path, uid: u32, mode: u32) {
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::chown(dir, Some(uid), Some(uid)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Installs the plugin into `<plugins>/<id>/` as `grafana cli` or a file copy does (root-owned,
/// world-readable): `plugin.json` and the executable (a hard link to the built binary, or a copy
/// across file systems). Replaces whatever folder was there.
fn install_plugin(plugins: &Path) -> PathBuf {
    let folder = plugins.join(PLUGIN_ID);
    if folder.exists() {
        std::fs::remove_dir_all(&folder).unwrap();
    }
    make_dir(&folder, 0, 0o755);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.json"),
        folder.join("plugin.json"),
    )
    .unwrap();
    let exe = folder.join(EXE_NAME);
    if std::fs::hard_link(BIN, &exe).is_err() {
        std::fs::copy(BIN, &exe).unwrap();
    }
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

/// One simulated install: a temporary root that `nobody` can traverse.
struct Layout {
    root: tempfile::TempDir,
    /// The plugins directory.
    plugins: PathBuf,
    /// Grafana's working directory (also `$HOME` unless a test changes it).
    cwd: PathBuf,
    /// Where the data should land.
    expected_data: PathBuf,
    /// Variables the layout adds to the plugin's environment.
    env: Vec<(String, String)>,
}

impl Layout {
    fn traversable_root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        root
    }

    /// deb/rpm: `/usr/share/grafana` root-owned 0755 (cwd and HOME), `/var/lib/grafana` owned by
    /// the service user, plugins in `/var/lib/grafana/plugins`, no `GF_PATHS_DATA`.
    fn deb() -> Self {
        let root = Self::traversable_root();
        let r = root.path();
        let home = r.join("usr/share/grafana");
        make_dir(&home, 0, 0o755);
        let data = r.join("var/lib/grafana");
        make_dir(&r.join("var/lib"), 0, 0o755);
        make_dir(&data, UID, 0o755);
        let plugins = data.join("plugins");
        make_dir(&plugins, UID, 0o755);
        Layout {
            plugins,
            cwd: home,
            expected_data: data.join("secrets-broker"),
            env: vec![],
            root,
        }
    }

    /// Docker image: as deb/rpm, plus `GF_PATHS_DATA=/var/lib/grafana` (here pointing elsewhere
    /// than the plugins directory's parent, to show which one wins).
    fn docker() -> Self {
        let mut layout = Self::deb();
        let data = layout.root.path().join("grafana-data");
        make_dir(&data, UID, 0o755);
        layout.expected_data = data.join("secrets-broker");
        layout
            .env
            .push(("GF_PATHS_DATA".into(), data.display().to_string()));
        layout
    }

    /// Tarball: extracted by the user into `/opt/grafana-11.6.0` and run from there; data in
    /// `<install>/data`, plugins in `<install>/data/plugins`; the user's home is writable (the
    /// data must still go to Grafana's data directory, not the home).
    fn tarball() -> Self {
        let root = Self::traversable_root();
        let r = root.path();
        make_dir(&r.join("opt"), 0, 0o755);
        let install = r.join("opt/grafana-11.6.0");
        make_dir(&install, UID, 0o755);
        let plugins = install.join("data/plugins");
        make_dir(&install.join("data"), UID, 0o755);
        make_dir(&plugins, UID, 0o755);
        let home = r.join("home/alice");
        make_dir(&r.join("home"), 0, 0o755);
        make_dir(&home, UID, 0o755);
        Layout {
            plugins,
            cwd: install.clone(),
            expected_data: install.join("data/secrets-broker"),
            env: vec![("HOME".into(), home.display().to_string())],
            root,
        }
    }

    /// The plugin's command as Grafana starts it: the installed executable, as `nobody`, in the
    /// layout's working directory, with Grafana's launch environment and nothing of ours.
    /// Installs the plugin, launches it with `var` set to `value` in its environment and checks
    /// it stores a value (`ds` = `v` in org 1); returns it with its socket's path.
    async fn launch_storing_with(&self, var: &str, value: &Path) -> (Plugin, PathBuf) {
        let exe = install_plugin(&self.plugins);
        let mut cmd = self.command(&exe);
        cmd.env(var, value);
        let plugin = launch(cmd);
        let socket = PathBuf::from(&plugin.handshake.address);
        let mut c = plugin.client().await;
        assert_eq!(set(&mut c, 1, "ds", "v").await, "");
        (plugin, socket)
    }

    fn command(&self, exe: &Path) -> Command {
        let mut cmd = Command::new(exe);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", &self.cwd)
            .env("grafana_plugin_type", "datasource")
            .env("PLUGIN_PROTOCOL_VERSIONS", "2")
            .env("PLUGIN_MIN_PORT", "10000")
            .env("PLUGIN_MAX_PORT", "25000")
            .env("GF_VERSION", "11.6.0")
            .env("GF_EDITION", "Open Source");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.current_dir(&self.cwd)
            .uid(UID)
            .gid(GID)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

/// Launches, stores (or with `value == None` only reads back) a secret, checks it, shuts down.
async fn round_trip(cmd: Command, write: Option<&str>, expect: &str) -> Plugin {
    let mut plugin = launch(cmd);
    assert_eq!(plugin.handshake.network, "unix");
    let mut c = plugin.client().await;
    if let Some(value) = write {
        assert_eq!(set(&mut c, 1, "prometheus", value).await, "");
    }
    let r = get(&mut c, 1, "prometheus").await;
    assert_eq!(
        (
            r.exists,
            r.decrypted_value.as_str(),
            r.user_friendly_error.as_str()
        ),
        (true, expect, ""),
        "stderr: {:?}",
        plugin.stderr_lines()
    );
    let channel = plugin.channel().await;
    let (_, status) = plugin.shutdown(channel).await;
    assert!(status.success(), "{status:?}");
    plugin
}

/// The data directory holds the store, private to the plugin's user.
fn assert_private_store(dir: &Path) {
    let key = dir.join("broker.key");
    assert!(key.is_file(), "{} holds broker.key", dir.display());
    assert!(
        dir.join("db").is_dir(),
        "{} holds the database",
        dir.display()
    );
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    assert_eq!(mode(&key), 0o600, "{}", key.display());
    assert_eq!(std::fs::metadata(dir).unwrap().uid(), UID);
}

/// The full check in one layout: first start, data location and modes, upgrade, second start.
async fn check_layout(layout: Layout) {
    let exe = install_plugin(&layout.plugins);
    let plugin = round_trip(layout.command(&exe), Some("s3cret-v1"), "s3cret-v1").await;
    let logs = plugin.stderr_lines().join("\n");
    assert_private_store(&layout.expected_data);
    assert!(
        logs.contains(&layout.expected_data.display().to_string()),
        "the log names the data directory: {logs}"
    );
    // Nothing was written inside the plugin's own folder.
    let mut in_folder: Vec<_> = std::fs::read_dir(exe.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    in_folder.sort();
    assert_eq!(in_folder, ["plugin.json", EXE_NAME]);

    // Upgrade: the plugin's folder is deleted and installed anew; the secret is still there.
    let exe = install_plugin(&layout.plugins);
    round_trip(layout.command(&exe), None, "s3cret-v1").await;
    assert_private_store(&layout.expected_data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deb_rpm_layout_keeps_data_in_var_lib_grafana() {
    let Some(()) = root_or_skip("deb_rpm_layout_keeps_data_in_var_lib_grafana") else {
        return;
    };
    check_layout(Layout::deb()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_layout_keeps_data_in_gf_paths_data() {
    let Some(()) = root_or_skip("docker_layout_keeps_data_in_gf_paths_data") else {
        return;
    };
    check_layout(Layout::docker()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tarball_layout_keeps_data_in_the_install_data_dir() {
    let Some(()) = root_or_skip("tarball_layout_keeps_data_in_the_install_data_dir") else {
        return;
    };
    check_layout(Layout::tarball()).await;
}

/// Runs a launch that must fail; returns its stderr.
fn failed_start(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "no handshake line"
    );
    stderr
}

#[test]
fn an_unwritable_grafana_data_dir_stops_start_up_naming_data_dir() {
    let Some(()) = root_or_skip("an_unwritable_grafana_data_dir_stops_start_up_naming_data_dir")
    else {
        return;
    };
    let layout = Layout::deb();
    // /var/lib/grafana owned by root: nothing the plugin's user can write anywhere.
    let data = layout.plugins.parent().unwrap();
    std::os::unix::fs::chown(data, Some(0), Some(0)).unwrap();
    let exe = install_plugin(&layout.plugins);
    let stderr = failed_start(layout.command(&exe));
    let lines = assert_hclog(&stderr.lines().map(String::from).collect::<Vec<_>>());
    let message = lines
        .iter()
        .find(|l| l["@level"] == "error")
        .and_then(|l| l["@message"].as_str())
        .unwrap_or_else(|| panic!("an error line: {stderr}"))
        .to_string();
    assert!(
        message.contains("data_dir")
            && message.contains(&layout.expected_data.display().to_string())
            && message.contains("Permission denied"),
        "{message}"
    );
    assert!(!layout.expected_data.exists());
}

/// The deb/rpm layout with its environment changed by `change`; the round trip must work.
async fn deb_with(change: impl FnOnce(&Layout, &mut Command)) -> Plugin {
    let layout = Layout::deb();
    let exe = install_plugin(&layout.plugins);
    let mut cmd = layout.command(&exe);
    change(&layout, &mut cmd);
    let plugin = round_trip(cmd, Some("v"), "v").await;
    assert_private_store(&layout.expected_data);
    plugin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deb_rpm_without_home_starts() {
    let Some(()) = root_or_skip("deb_rpm_without_home_starts") else {
        return;
    };
    deb_with(|_, cmd| {
        cmd.env_remove("HOME");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deb_rpm_with_another_tmpdir_puts_the_socket_there() {
    let Some(()) = root_or_skip("deb_rpm_with_another_tmpdir_puts_the_socket_there") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    make_dir(tmp.path(), UID, 0o700);
    let tmp_path = tmp.path().to_path_buf();
    // The socket directory is removed on shutdown; check where it was while running.
    let layout = Layout::deb();
    let (plugin, socket) = layout.launch_storing_with("TMPDIR", &tmp_path).await;
    assert!(socket.starts_with(&tmp_path), "{}", socket.display());
    let mut c = plugin.client().await;
    assert_eq!(get(&mut c, 1, "ds").await.decrypted_value, "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deb_rpm_with_a_missing_tmpdir_falls_back_to_tmp() {
    let Some(()) = root_or_skip("deb_rpm_with_a_missing_tmpdir_falls_back_to_tmp") else {
        return;
    };
    let layout = Layout::deb();
    let missing = layout.root.path().join("no-such-tmp");
    let (plugin, socket) = layout.launch_storing_with("TMPDIR", &missing).await;
    assert!(socket.starts_with("/tmp"), "{}", socket.display());
    let logs = plugin.stderr_lines().join("\n");
    assert!(
        logs.contains(&missing.display().to_string()) && logs.contains("\"@level\":\"warn\""),
        "the fallback is logged as a warning naming the directory: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_dir_too_long_for_a_socket_path_falls_back_with_a_warning() {
    let Some(()) =
        root_or_skip("a_socket_dir_too_long_for_a_socket_path_falls_back_with_a_warning")
    else {
        return;
    };
    let layout = Layout::deb();
    // 100 bytes or more: a socket path inside cannot fit in 107 bytes.
    let mut long = layout.root.path().join("run");
    while long.as_os_str().len() < 100 {
        long.push("grafana-plugin-sockets");
    }
    make_dir(&long, UID, 0o700);
    let (plugin, socket) = layout
        .launch_storing_with("PLUGIN_UNIX_SOCKET_DIR", &long)
        .await;
    assert!(
        socket.starts_with("/tmp") && socket.as_os_str().len() <= 107,
        "{}",
        socket.display()
    );
    let logs = plugin.stderr_lines().join("\n");
    assert!(
        logs.contains("PLUGIN_UNIX_SOCKET_DIR") && logs.contains("107"),
        "the fallback names the variable and the limit: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_dir_just_short_enough_for_go_plugin_is_used() {
    let Some(()) = root_or_skip("a_socket_dir_just_short_enough_for_go_plugin_is_used") else {
        return;
    };
    let layout = Layout::deb();
    // go-plugin's socket adds at most 17 bytes ("/plugin" and 10 digits): a 90-byte directory
    // works for go-plugin's own plugins, so it must work here too.
    let base = layout.root.path().as_os_str().len();
    let dir = layout.root.path().join("s".repeat(90 - base - 1));
    assert_eq!(dir.as_os_str().len(), 90);
    make_dir(&dir, UID, 0o700);
    let (_plugin, socket) = layout
        .launch_storing_with("PLUGIN_UNIX_SOCKET_DIR", &dir)
        .await;
    assert!(socket.starts_with(&dir), "{}", socket.display());
}
