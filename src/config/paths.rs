//! Where Rustbot reads its configuration and writes its data.

use std::path::PathBuf;

use crate::config::settings::ConfigError;

/// The file and folders one run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The `config.toml` in use (it need not exist).
    pub config_file: PathBuf,
    /// The folder holding it: `.env`, `secrets.env` and `agents/` live here.
    pub config_dir: PathBuf,
    /// Where the database, logs and everything written at run time go.
    pub data_dir: PathBuf,
}

impl Paths {
    /// Resolves the paths from `--config`/`RUSTBOT_CONFIG` and `--data-dir`/`RUSTBOT_DATA_DIR`
    /// (already merged by the caller), else the platform directories.
    pub fn resolve(
        config_file: Option<PathBuf>,
        data_dir: Option<PathBuf>,
    ) -> Result<Paths, ConfigError> {
        let project = directories::ProjectDirs::from("", "", "rustbot");
        let config_file = match config_file {
            Some(file) => file,
            None => project
                .as_ref()
                .map(|p| p.config_dir().join("config.toml"))
                .ok_or(ConfigError::NoHome)?,
        };
        let config_dir = config_file
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let data_dir = match data_dir {
            Some(dir) => dir,
            None => project
                .as_ref()
                .map(|p| p.data_dir().to_path_buf())
                .ok_or(ConfigError::NoHome)?,
        };
        Ok(Paths {
            config_file,
            config_dir,
            data_dir,
        })
    }

    /// The folder of agent files next to the config file.
    pub fn agents_dir(&self) -> PathBuf {
        self.config_dir.join("agents")
    }

    /// The fallback secrets file (used when no OS keyring is reachable).
    pub fn secrets_file(&self) -> PathBuf {
        self.config_dir.join("secrets.env")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_paths_win_and_the_config_dir_is_the_files_folder() {
        let p = Paths::resolve(
            Some(PathBuf::from("/x/config.toml")),
            Some(PathBuf::from("/d")),
        )
        .unwrap();
        assert_eq!(p.config_dir, PathBuf::from("/x"));
        assert_eq!(p.data_dir, PathBuf::from("/d"));
        assert_eq!(p.agents_dir(), PathBuf::from("/x/agents"));
    }

    #[test]
    fn a_bare_file_name_lives_in_the_current_folder() {
        let p = Paths::resolve(Some(PathBuf::from("c.toml")), Some(PathBuf::from("d"))).unwrap();
        assert_eq!(p.config_dir, PathBuf::from("."));
    }
}
