//! GetRandomPassword through the real SDK: defaults, every option, and each error.

mod common;

use common::{assert_err, start};
use secretsmanager_emulator::password::{DIGITS, LOWERCASE, PUNCTUATION, UPPERCASE};

fn has(p: &str, set: &str) -> bool {
    p.chars().any(|c| set.contains(c))
}

#[tokio::test]
async fn get_random_password_options_and_errors() {
    let (emu, c) = start().await;
    let p = c
        .get_random_password()
        .send()
        .await
        .expect("default")
        .random_password
        .expect("password");
    assert_eq!(p.chars().count(), 32);
    assert!(
        has(&p, LOWERCASE)
            && has(&p, UPPERCASE)
            && has(&p, DIGITS)
            && has(&p, PUNCTUATION)
            && !p.contains(' ')
    );
    let p2 = c
        .get_random_password()
        .send()
        .await
        .expect("again")
        .random_password
        .expect("password");
    assert_ne!(p, p2, "two passwords from a CSPRNG differ");

    let p = c
        .get_random_password()
        .password_length(100)
        .exclude_punctuation(true)
        .exclude_numbers(true)
        .exclude_characters("aeiouAEIOU")
        .include_space(true)
        .send()
        .await
        .expect("options")
        .random_password
        .expect("password");
    assert_eq!(p.len(), 100);
    assert!(!has(&p, DIGITS) && !has(&p, PUNCTUATION) && !has(&p, "aeiouAEIOU"));
    assert!(p.chars().all(|c| c == ' ' || c.is_ascii_alphabetic()));

    let p = c
        .get_random_password()
        .password_length(1)
        .require_each_included_type(false)
        .exclude_lowercase(true)
        .exclude_uppercase(true)
        .exclude_punctuation(true)
        .send()
        .await
        .expect("one digit")
        .random_password
        .expect("password");
    assert!(p.len() == 1 && has(&p, DIGITS));
    let p = c
        .get_random_password()
        .password_length(4096)
        .send()
        .await
        .expect("max length");
    assert_eq!(p.random_password().map(str::len), Some(4096));

    assert_err(
        c.get_random_password().password_length(3).send().await,
        "InvalidParameterException",
        "too short",
    );
    assert_err(
        c.get_random_password()
            .exclude_lowercase(true)
            .exclude_uppercase(true)
            .exclude_numbers(true)
            .exclude_punctuation(true)
            .send()
            .await,
        "InvalidParameterException",
        "excluded",
    );
    assert_err(
        c.get_random_password().password_length(4097).send().await,
        "ValidationException",
        "4096",
    );
    assert_err(
        c.get_random_password().password_length(0).send().await,
        "ValidationException",
        "greater than or equal to 1",
    );
    emu.shutdown().await;
}
