//! Parsed identities kept while their files are unchanged.

use std::path::PathBuf;

use super::{Identity, IdentityError, IdentityFiles};

/// Parsed identities, re-read only when a file's metadata changes: each use costs one
/// `stat` per file, and a renewed certificate or rotated key is seen at once.
#[derive(Debug, Default)]
pub struct IdentityCache {
    entries: std::sync::Mutex<IdentityMap>,
}

type IdentityMap = std::collections::HashMap<
    Vec<PathBuf>,
    (
        Vec<crate::system::files::FileStamp>,
        std::sync::Arc<Identity>,
    ),
>;

impl IdentityCache {
    /// The identity in `files`, from cache when no file changed.
    pub fn load(&self, files: &IdentityFiles) -> Result<std::sync::Arc<Identity>, IdentityError> {
        let paths: Vec<PathBuf> = files
            .certificates
            .iter()
            .chain(&files.intermediates)
            .chain(std::iter::once(&files.private_key))
            .cloned()
            .collect();
        let stamps = paths
            .iter()
            .map(|path| {
                crate::system::files::FileStamp::read(path).map_err(|source| IdentityError::Read {
                    path: path.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some((cached, identity)) = self.lock().get(&paths)
            && *cached == stamps
        {
            return Ok(identity.clone());
        }
        let identity = std::sync::Arc::new(files.load()?);
        self.lock().insert(paths, (stamps, identity.clone()));
        Ok(identity)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdentityMap> {
        // Only parsed copies of files live here; a panic elsewhere leaves them valid.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
