//! `log`: appends the alert JSON as one line to a file, created with the handler's mode.

use super::DeliveryError;
use crate::event::Event;
use crate::options::LogOptions;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

pub(crate) struct LogAction {
    path: PathBuf,
    mode: u32,
}

impl LogAction {
    /// Kapacitor's `LogHandlerConfig.Validate`.
    pub fn new(o: LogOptions) -> Result<LogAction, String> {
        if o.mode & 0o200 == 0 {
            return Err(format!(
                "invalid file mode {}, must be user writable",
                go_file_mode(o.mode)
            ));
        }
        let path = PathBuf::from(&o.path);
        if !path.is_absolute() {
            return Err(format!(
                "log path must be absolute: {} is not absolute",
                o.path
            ));
        }
        Ok(LogAction { path, mode: o.mode })
    }

    pub async fn deliver(&self, ev: &Event) -> Result<(), DeliveryError> {
        let mut f = tokio::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(self.mode)
            .open(&self.path)
            .await
            .map_err(|e| {
                DeliveryError::permanent(format!(
                    "failed to open file {} for alert logging: {e}",
                    self.path.display()
                ))
            })?;
        // One write call per line keeps concurrent appenders from interleaving lines.
        f.write_all(ev.alert_json().as_bytes())
            .await
            .map_err(|e| DeliveryError::permanent(format!("failed to write alert log: {e}")))?;
        Ok(())
    }
}

/// Go's `os.FileMode.String()` for permission bits (`-rw-------`).
fn go_file_mode(mode: u32) -> String {
    let mut s = String::from("-");
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        s.push(if mode & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    s
}
