//! Binding files: `Binding::from_file` on any bytes never panics, and a binding it accepts
//! is written back by `to_json` into a file it reads as the same binding.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use needroleshere::binding::{Binding, BindingName};

fuzz_target!(|data: &[u8]| {
    let name: BindingName = "web".parse().expect("a valid name");
    let path = Path::new("/run/needroleshere/bindings/web.json");
    if let Ok(binding) = Binding::from_file(path, &name, data) {
        let json = binding.to_json();
        let back = Binding::from_file(path, &name, json.as_bytes())
            .expect("a binding reads back what it wrote");
        assert_eq!(back.mode, binding.mode);
        assert_eq!(back.session, binding.session);
        assert_eq!(back.files, binding.files);
        assert_eq!(back.region, binding.region);
        assert_eq!(back.endpoint, binding.endpoint);
        assert_eq!(back.allowed_uids, binding.allowed_uids);
        assert_eq!(back.to_json(), json);
    }
});
