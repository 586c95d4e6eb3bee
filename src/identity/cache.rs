//! Parsed identities kept while their files (and token certificates) are unchanged.

use std::ffi::OsString;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Identity, IdentityError, IdentityFiles, Location};
use crate::system::files::FileStamp;

/// Parsed identities, re-read only when something they were read from changed: each use
/// costs one `stat` per file (and one read of each certificate kept in a token), and a
/// renewed certificate or rotated key is seen at once. A key in a device stays open.
#[derive(Debug, Default)]
pub struct IdentityCache {
    entries: Mutex<IdentityMap>,
}

/// What an identity was read from, as it was then: file stamps and token certificates.
#[derive(Debug, PartialEq, Eq)]
struct Stamps {
    files: Vec<FileStamp>,
    token_certificates: Vec<Vec<u8>>,
}

type IdentityMap = std::collections::HashMap<Vec<OsString>, (Stamps, Arc<Identity>)>;

impl IdentityCache {
    /// The identity in `files`, from cache when nothing changed.
    pub fn load(&self, files: &IdentityFiles) -> Result<Arc<Identity>, IdentityError> {
        let locations: Vec<&Location> = files
            .certificates
            .iter()
            .chain([&files.private_key])
            .collect();
        let key: Vec<OsString> = locations
            .iter()
            .map(|l| l.to_os_string())
            .chain(files.intermediates.iter().map(|p| p.as_os_str().to_owned()))
            .collect();
        let paths = locations
            .iter()
            .filter_map(|l| l.path())
            .chain(files.intermediates.iter().map(|p| p.as_path()));
        let stamps = Stamps {
            files: paths
                .map(|path| {
                    FileStamp::read(path).map_err(|source| IdentityError::Read {
                        path: path.to_owned(),
                        source,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            token_certificates: token_certificates(files)?,
        };
        if let Some((cached, identity)) = self.lock().get(&key)
            && *cached == stamps
        {
            return Ok(identity.clone());
        }
        let identity = Arc::new(files.load()?);
        self.lock().insert(key, (stamps, identity.clone()));
        Ok(identity)
    }

    fn lock(&self) -> MutexGuard<'_, IdentityMap> {
        // Only parsed copies of files live here; a panic elsewhere leaves them valid.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The DER of every certificate kept in a token, in order.
fn token_certificates(files: &IdentityFiles) -> Result<Vec<Vec<u8>>, IdentityError> {
    let mut ders = Vec::new();
    for location in &files.certificates {
        if let Location::Pkcs11(_) = location {
            ders.extend(
                files
                    .read_certificates(location)?
                    .into_iter()
                    .map(|c| c.der),
            );
        }
    }
    Ok(ders)
}
