//! The IAM Identity Center role list and choice: the portal's ListAccounts and
//! ListAccountRoles pages and its refusals, and a role choice sent to the management API
//! (form or JSON). Parsing never panics, and what parses keeps the promises the role list
//! relies on: every account has an id, every role a name, a next token is never empty, a
//! choice names a role by a non-empty ARN or by a non-empty account and role name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::aws::sso::{AccountsPage, RolesPage, parse_error};
use needroleshere::source::choice::WantedRole;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(page) = AccountsPage::parse(text) {
        assert!(page.accounts.iter().all(|a| !a.account_id.is_empty()));
        assert!(page.next_token.as_deref().is_none_or(|t| !t.is_empty()));
    }
    if let Ok(page) = RolesPage::parse(text) {
        assert!(page.role_names.iter().all(|r| !r.is_empty()));
        assert!(page.next_token.as_deref().is_none_or(|t| !t.is_empty()));
    }
    let refusal = parse_error("ListAccounts", 403, None, text);
    assert!(refusal.to_string().len() < 2048, "a refusal's message is kept short");
    for json in [false, true] {
        match WantedRole::parse(text, json) {
            Ok(WantedRole::Arn(arn)) => assert!(!arn.trim().is_empty()),
            Ok(WantedRole::Name {
                account_id,
                role_name,
            }) => assert!(!account_id.trim().is_empty() && !role_name.trim().is_empty()),
            Err(_) => {}
        }
    }
});
