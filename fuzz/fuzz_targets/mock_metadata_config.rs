//! aws-mock-metadata's configuration reader: any text parses or fails with a line-numbered
//! error, never a panic; every profile it lists resolves to a plan or a named error, and a
//! plan keeps aws-mock-metadata's duration limits (15 minutes to 36 hours for session
//! tokens, at most 1 hour for roles) and its one optional role.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use needroleshere::aws_files::mock_metadata::MockMetadataConfig;
use needroleshere::system::env::Environment;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = MockMetadataConfig::parse(Path::new("config"), text) else {
        return;
    };
    let _ = config.listen_addr();
    let names = config.names();
    assert!(names.iter().any(|n| n == "default"), "{names:?}");
    let env = Environment::default();
    for name in &names {
        let Ok(plan) = config.plan(name, &env) else {
            continue;
        };
        assert_eq!(&plan.profile, name);
        assert!(plan.roles.len() <= 1);
        assert_eq!(plan.roles.is_empty(), !config.is_role(name));
        assert!((900..=129_600).contains(&plan.session_token_seconds));
        assert!((900..=3600).contains(&plan.credentials_seconds));
    }
});
