//! `doctor`'s checks of a Grafana install: the ini lines Grafana needs (`[secrets] use_plugin`,
//! `[plugins] allow_loading_unsigned_plugins`), the `[plugin.secretsbroker-secretsmanager]`
//! section (handed back as the `GF_PLUGIN_*` variables Grafana would pass), and the plugin's
//! folder: `plugin.json` (id, type, backend) and the executable Grafana runs on this machine
//! (present, readable and executable by Grafana's account, built for this CPU).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use secrets_broker::backends::diagnosis::{permits, Account, Finding};

/// The plugin id, the folder name and the `[plugin.<id>]` section.
pub const PLUGIN_ID: &str = "secretsbroker-secretsmanager";
/// The `type` in `plugin.json` that makes Grafana treat it as a secrets manager.
const PLUGIN_TYPE: &str = "secretsmanager";

/// What to look at.
#[derive(Debug, Clone)]
pub struct Install {
    /// Grafana's home (`homepath`: `/usr/share/grafana`, a tarball's folder).
    pub home: Option<PathBuf>,
    /// The ini file Grafana is started with (`custom.ini` or `grafana.ini`).
    pub config: Option<PathBuf>,
    /// The plugins directory, when given explicitly.
    pub plugins: Option<PathBuf>,
}

/// What the install check found besides its findings.
#[derive(Debug, Default)]
pub struct Found {
    /// `[plugin.secretsbroker-secretsmanager]` as Grafana passes it: (`GF_PLUGIN_<KEY>`, value).
    pub plugin_env: Vec<(String, String)>,
    /// The ini file those came from.
    pub config_file: Option<PathBuf>,
    /// The executable Grafana would start.
    pub executable: Option<PathBuf>,
}

/// The executable name Grafana starts for a secrets-manager plugin on this machine.
pub fn executable_name() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("secrets_plugin_start_{}_{arch}", std::env::consts::OS)
}

/// Reads an ini file as Grafana does (quotes allowed, no escapes).
fn load_ini(path: &Path) -> Result<ini::Ini, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot be read: {e}"))?;
    let opt = ini::ParseOption {
        enabled_quote: true,
        enabled_escape: false,
        ..Default::default()
    };
    ini::Ini::load_from_str_opt(&text, opt).map_err(|e| format!("is not a valid ini file: {e}"))
}

/// The ini files in the order Grafana reads them: `defaults.ini` under the home, then the
/// given config (or `conf/custom.ini` under the home).
struct Layers {
    files: Vec<(PathBuf, ini::Ini)>,
    env: Vec<(String, String)>,
}

impl Layers {
    /// `[section] key`: Grafana's `GF_<SECTION>_<KEY>` override, else the last file that sets
    /// it; with where it came from.
    fn get(&self, section: &str, key: &str) -> Option<(String, String)> {
        let var = format!(
            "GF_{}_{}",
            section.to_ascii_uppercase().replace(['.', '-'], "_"),
            key.to_ascii_uppercase()
        );
        if let Some((_, v)) = self.env.iter().find(|(k, _)| *k == var) {
            return Some((v.clone(), format!("environment variable {var}")));
        }
        self.files.iter().rev().find_map(|(path, ini)| {
            ini.get_from(Some(section), key)
                .map(|v| (v.trim().to_string(), path.display().to_string()))
        })
    }
}

/// Checks the install; `who` is the account Grafana runs as.
pub fn check(
    install: &Install,
    env: &[(String, String)],
    who: &Account,
    out: &mut Vec<Finding>,
) -> Found {
    let mut found = Found::default();
    let config = install.config.clone().or_else(|| {
        let home = install.home.as_ref()?;
        ["conf/custom.ini", "conf/grafana.ini"]
            .iter()
            .map(|f| home.join(f))
            .find(|p| p.is_file())
    });
    let mut layers = Layers {
        files: Vec::new(),
        env: env.to_vec(),
    };
    if let Some(defaults) = install.home.as_ref().map(|h| h.join("conf/defaults.ini")) {
        if let Ok(ini) = load_ini(&defaults) {
            layers.files.push((defaults, ini));
        }
    }
    match &config {
        None => out.push(Finding::problem(
            "grafana.config",
            "Grafana's ini file",
            format!(
                "not found ({} has neither conf/custom.ini nor conf/grafana.ini)",
                install
                    .home
                    .as_deref()
                    .unwrap_or(Path::new("the Grafana home"))
                    .display()
            ),
            "pass the file Grafana reads: --grafana-config /etc/grafana/grafana.ini",
        )),
        Some(path) => match load_ini(path) {
            Ok(ini) => {
                out.push(Finding::ok(
                    "grafana.config",
                    format!("Grafana's ini file {}", path.display()),
                    "read",
                ));
                if let Some(section) = ini.section(Some(format!("plugin.{PLUGIN_ID}"))) {
                    found.plugin_env = section
                        .iter()
                        .map(|(k, v)| {
                            (
                                format!("GF_PLUGIN_{}", k.to_ascii_uppercase()),
                                v.trim().to_string(),
                            )
                        })
                        .collect();
                }
                layers.files.push((path.clone(), ini));
                found.config_file = Some(path.clone());
            }
            Err(why) => out.push(Finding::problem(
                "grafana.config",
                format!("Grafana's ini file {}", path.display()),
                why,
                "correct the file (Grafana refuses to start with it)",
            )),
        },
    }
    let file = found
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "custom.ini".into());
    if !layers.files.is_empty() {
        ini_lines(&layers, &file, out);
    }
    let plugins = plugins_dir(install, &layers, out);
    if let Some(plugins) = plugins {
        found.executable = plugin_folder(&plugins, who, out);
    }
    found
}

fn ini_lines(layers: &Layers, file: &str, out: &mut Vec<Finding>) {
    let use_plugin = layers.get("secrets", "use_plugin");
    let on = use_plugin.as_ref().is_some_and(|(v, _)| {
        matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on")
    });
    out.push(if on {
        Finding::ok(
            "grafana.use_plugin",
            "[secrets] use_plugin",
            format!("true ({})", use_plugin.map(|(_, s)| s).unwrap_or_default()),
        )
    } else {
        Finding::problem(
            "grafana.use_plugin",
            "[secrets] use_plugin",
            match use_plugin {
                Some((v, from)) => format!("is {v:?} (in {from}): Grafana keeps secrets in its own database and never starts the plugin"),
                None => "is not set: Grafana keeps secrets in its own database and never starts the plugin".into(),
            },
            format!("in {file}, section [secrets]: use_plugin = true"),
        )
    });
    let allowed = layers.get("plugins", "allow_loading_unsigned_plugins");
    let listed = allowed
        .as_ref()
        .is_some_and(|(v, _)| v.split(',').any(|id| id.trim() == PLUGIN_ID));
    out.push(if listed {
        Finding::ok(
            "grafana.unsigned",
            "[plugins] allow_loading_unsigned_plugins",
            format!("lists {PLUGIN_ID}"),
        )
    } else {
        let existing = allowed
            .as_ref()
            .map(|(v, _)| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| format!("{v},"))
            .unwrap_or_default();
        Finding::problem(
            "grafana.unsigned",
            "[plugins] allow_loading_unsigned_plugins",
            format!("does not list {PLUGIN_ID}: Grafana refuses to load the unsigned plugin"),
            format!(
                "in {file}, section [plugins]: allow_loading_unsigned_plugins = {existing}{PLUGIN_ID}"
            ),
        )
    });
}

/// The plugins directory: given, `GF_PATHS_PLUGINS` / `[paths] plugins` (relative to the home),
/// or the first existing of `<home>/data/plugins`, `<home>/plugins` and `/var/lib/grafana/plugins`.
fn plugins_dir(install: &Install, layers: &Layers, out: &mut Vec<Finding>) -> Option<PathBuf> {
    let home = install.home.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut candidates: Vec<(PathBuf, String)> = Vec::new();
    if let Some(p) = &install.plugins {
        candidates.push((p.clone(), "--grafana-plugins".into()));
    } else {
        if let Some((p, from)) = layers.get("paths", "plugins") {
            candidates.push((home.join(p), format!("[paths] plugins in {from}")));
        }
        candidates.push((home.join("data/plugins"), "Grafana's default".into()));
        candidates.push((home.join("plugins"), "beside the home".into()));
        candidates.push((
            PathBuf::from("/var/lib/grafana/plugins"),
            "the deb/rpm packages' default".into(),
        ));
    }
    match candidates.iter().find(|(p, _)| p.is_dir()) {
        Some((p, from)) => {
            out.push(Finding::ok(
                "grafana.plugins_dir",
                format!("plugins directory {}", p.display()),
                format!("exists ({from})"),
            ));
            Some(p.clone())
        }
        None => {
            out.push(Finding::problem(
                "grafana.plugins_dir",
                "Grafana's plugins directory",
                format!(
                    "not found (looked at {})",
                    candidates
                        .iter()
                        .map(|(p, _)| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "pass it: --grafana-plugins DIR (Grafana's [paths] plugins)",
            ));
            None
        }
    }
}

/// `<plugins>/<id>/` (or another folder whose plugin.json has our id): plugin.json and the
/// executable. Returns the executable's path when it is there.
fn plugin_folder(plugins: &Path, who: &Account, out: &mut Vec<Finding>) -> Option<PathBuf> {
    let install = format!(
        "grafana cli --pluginUrl ./{PLUGIN_ID}-<version>.zip plugins install {PLUGIN_ID}   (or unzip the release into {})",
        plugins.display()
    );
    let by_name = plugins.join(PLUGIN_ID);
    let folder = if by_name.join("plugin.json").is_file() {
        by_name
    } else {
        let other = std::fs::read_dir(plugins).ok().and_then(|entries| {
            entries.flatten().map(|e| e.path()).find(|p| {
                std::fs::read_to_string(p.join("plugin.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .is_some_and(|j| j["id"] == PLUGIN_ID)
            })
        });
        match other {
            Some(f) => f,
            None => {
                out.push(Finding::problem(
                    "grafana.plugin",
                    format!("plugin folder {}", plugins.join(PLUGIN_ID).display()),
                    "missing: no folder in the plugins directory holds a plugin.json with this plugin's id",
                    install,
                ));
                return None;
            }
        }
    };
    let manifest = folder.join("plugin.json");
    let subject = format!("{}", manifest.display());
    let json = std::fs::read_to_string(&manifest)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()));
    let json = match json {
        Ok(j) => j,
        Err(why) => {
            out.push(Finding::problem(
                "grafana.plugin_json",
                subject,
                format!("cannot be read as JSON: {why}"),
                install,
            ));
            return None;
        }
    };
    let mut wrong = Vec::new();
    if json["id"] != PLUGIN_ID {
        wrong.push(format!("id is {} (expected {PLUGIN_ID:?})", json["id"]));
    }
    if json["type"] != PLUGIN_TYPE {
        wrong.push(format!(
            "type is {} (expected {PLUGIN_TYPE:?}: Grafana starts only a secretsmanager plugin as its secrets store)",
            json["type"]
        ));
    }
    if json["backend"] != true {
        wrong.push(format!("backend is {} (expected true)", json["backend"]));
    }
    if let Some(exe) = json["executable"].as_str() {
        if !executable_name().starts_with(exe) {
            wrong.push(format!(
                "executable is {exe:?}; Grafana starts {} for a secretsmanager plugin",
                executable_name()
            ));
        }
    }
    if wrong.is_empty() {
        out.push(Finding::ok(
            "grafana.plugin_json",
            subject.clone(),
            format!("id {PLUGIN_ID}, type {PLUGIN_TYPE}, backend true"),
        ));
    } else {
        out.push(Finding::problem(
            "grafana.plugin_json",
            subject.clone(),
            wrong.join("; "),
            install.clone(),
        ));
    }
    readable(&folder, 5, "grafana.plugin_folder.access", who, "755", out);
    readable(&manifest, 4, "grafana.plugin_json.access", who, "644", out);
    let exe = folder.join(executable_name());
    executable(&exe, who, &install, out);
    Some(exe)
}

/// A problem when `who` may not `want` (4 read, 1 execute) `path`.
fn readable(
    path: &Path,
    want: u32,
    check: &str,
    who: &Account,
    chmod: &str,
    out: &mut Vec<Finding>,
) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if !permits(who, meta.mode(), meta.uid(), meta.gid(), want) {
        out.push(Finding::problem(
            check,
            path.display().to_string(),
            format!(
                "has mode {:04o} (owner uid {}): {} cannot {}",
                meta.mode() & 0o777,
                meta.uid(),
                who.name,
                if want == 4 { "read it" } else { "open it" }
            ),
            format!("chmod {chmod} {}", path.display()),
        ));
    }
}

/// The executable: present, a file, readable and executable by `who`, not writable by others,
/// an ELF file for this CPU.
fn executable(exe: &Path, who: &Account, install: &str, out: &mut Vec<Finding>) {
    let subject = format!("executable {}", exe.display());
    let meta = match std::fs::metadata(exe) {
        Ok(m) if m.is_file() => m,
        Ok(_) => {
            out.push(Finding::problem(
                "grafana.executable",
                subject,
                "is not a regular file",
                install,
            ));
            return;
        }
        Err(e) => {
            out.push(Finding::problem(
                "grafana.executable",
                subject,
                format!(
                    "cannot be used ({e}): Grafana starts this file for a secretsmanager plugin on this machine"
                ),
                install,
            ));
            return;
        }
    };
    let mode = meta.mode() & 0o777;
    let before = out.len();
    if !permits(who, mode, meta.uid(), meta.gid(), 5) {
        out.push(Finding::problem(
            "grafana.executable.mode",
            subject.clone(),
            format!(
                "has mode {mode:04o} (owner uid {}): {} cannot run it, so the plugin cannot start",
                meta.uid(),
                who.name
            ),
            format!("chmod 755 {}", exe.display()),
        ));
    }
    if mode & 0o022 != 0 {
        out.push(Finding::warning(
            "grafana.executable.writable",
            subject.clone(),
            format!(
                "has mode {mode:04o}: group or others can replace the program that reads every secret"
            ),
            format!("chmod go-w {}", exe.display()),
        ));
    }
    match elf_machine(exe) {
        Ok(machine) if Some(machine) != expected_machine() => out.push(Finding::problem(
            "grafana.executable.arch",
            subject.clone(),
            format!(
                "is built for another CPU (ELF machine {machine:#x}); this machine is {}",
                std::env::consts::ARCH
            ),
            install,
        )),
        Ok(_) => {}
        Err(ElfCheck::NotElf) => out.push(Finding::problem(
            "grafana.executable.arch",
            subject.clone(),
            "is not an ELF executable",
            install,
        )),
        Err(ElfCheck::Unreadable(why)) => out.push(Finding::warning(
            "grafana.executable.arch",
            subject.clone(),
            format!("cannot be read by the user running doctor, so its CPU was not checked: {why}"),
            format!("run doctor as {}", who.name),
        )),
    }
    if out.len() == before {
        out.push(Finding::ok(
            "grafana.executable",
            subject,
            format!(
                "mode {mode:04o}, runnable by {}, built for {}",
                who.name,
                std::env::consts::ARCH
            ),
        ));
    }
}

/// `e_machine` of this CPU's ELF files.
fn expected_machine() -> Option<u16> {
    match std::env::consts::ARCH {
        "x86_64" => Some(0x3e),
        "aarch64" => Some(0xb7),
        _ => None,
    }
}

/// Why a file's CPU could not be told.
enum ElfCheck {
    /// It could not be read.
    Unreadable(std::io::Error),
    /// It is not an ELF file.
    NotElf,
}

/// The ELF header's `e_machine`.
fn elf_machine(path: &Path) -> Result<u16, ElfCheck> {
    use std::io::Read;
    let mut head = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(ElfCheck::Unreadable)?;
    if head[..4] != *b"\x7fELF" {
        return Err(ElfCheck::NotElf);
    }
    Ok(if head[5] == 2 {
        u16::from_be_bytes([head[18], head[19]])
    } else {
        u16::from_le_bytes([head[18], head[19]])
    })
}
