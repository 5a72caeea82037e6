//! GetRandomPassword: the password generator behind the operation (every option of the model, OS CSPRNG,
//! required character types shuffled into random positions) and its AWS-shaped errors.

use rand::rngs::OsRng;
use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::protocol::shapes::GetRandomPasswordRequest;
use rand::seq::SliceRandom;
use rand::Rng;

/// Python's `string.punctuation`, the set AWS documents for GetRandomPassword.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
/// Lower-case ASCII letters.
pub const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
/// Upper-case ASCII letters.
pub const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// ASCII digits.
pub const DIGITS: &str = "0123456789";
/// Default password length when `PasswordLength` is absent.
pub const DEFAULT_LENGTH: u64 = 32;
/// Largest `PasswordLength` the model allows.
pub const MAX_LENGTH: u64 = 4096;

/// The request members of GetRandomPassword, with AWS's defaults applied by [`PasswordOptions::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordOptions {
    /// Number of characters (1–4096).
    pub length: u64,
    /// Characters never used, removed from every class.
    pub exclude_characters: String,
    /// Leave digits out.
    pub exclude_numbers: bool,
    /// Leave punctuation out.
    pub exclude_punctuation: bool,
    /// Leave upper-case letters out.
    pub exclude_uppercase: bool,
    /// Leave lower-case letters out.
    pub exclude_lowercase: bool,
    /// Allow the space character.
    pub include_space: bool,
    /// At least one character of every included type (default true).
    pub require_each_included_type: bool,
}

impl Default for PasswordOptions {
    fn default() -> Self {
        Self {
            length: DEFAULT_LENGTH,
            exclude_characters: String::new(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            include_space: false,
            require_each_included_type: true,
        }
    }
}

/// Why a password cannot be generated; each maps to an AWS error code via [`PasswordError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// PasswordLength outside 1–4096 (the AWS front end answers ValidationException).
    #[error("1 validation error detected: Value '{0}' at 'passwordLength' failed to satisfy constraint: Member must have value {1}")]
    LengthOutOfRange(i64, &'static str),
    /// Every character was excluded (AWS's wording, as measured by users of the service; no
    /// AWS-validated snapshot records it).
    #[error("All characters have been excluded from selection.")]
    NothingToChooseFrom,
    /// Fewer characters than required types.
    #[error("Password length is too short based on the required types.")]
    TooShortForRequiredTypes,
}

impl PasswordError {
    /// The AWS error code (`__type`) for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::LengthOutOfRange(..) => "ValidationException",
            Self::NothingToChooseFrom | Self::TooShortForRequiredTypes => {
                "InvalidParameterException"
            }
        }
    }
}

/// Checks a raw `PasswordLength` value against the model's 1–4096 range.
pub fn check_length(raw: i64) -> Result<u64, PasswordError> {
    if raw < 1 {
        return Err(PasswordError::LengthOutOfRange(
            raw,
            "greater than or equal to 1",
        ));
    }
    if raw as u64 > MAX_LENGTH {
        return Err(PasswordError::LengthOutOfRange(
            raw,
            "less than or equal to 4096",
        ));
    }
    Ok(raw as u64)
}

/// The character classes left after the Exclude* switches and `ExcludeCharacters` (empty classes dropped).
fn classes(opts: &PasswordOptions) -> Vec<Vec<char>> {
    let mut wanted: Vec<&str> = Vec::with_capacity(5);
    if !opts.exclude_lowercase {
        wanted.push(LOWERCASE);
    }
    if !opts.exclude_uppercase {
        wanted.push(UPPERCASE);
    }
    if !opts.exclude_numbers {
        wanted.push(DIGITS);
    }
    if !opts.exclude_punctuation {
        wanted.push(PUNCTUATION);
    }
    if opts.include_space {
        wanted.push(" ");
    }
    wanted
        .into_iter()
        .map(|class| {
            class
                .chars()
                .filter(|c| !opts.exclude_characters.contains(*c))
                .collect::<Vec<char>>()
        })
        .filter(|class| !class.is_empty())
        .collect()
}

/// Generates a password with the operating system's CSPRNG.
///
/// With `require_each_included_type`, one character of each remaining type (lower, upper, digit, punctuation;
/// the space is optional, as AWS documents only those four types) is placed at a random position; a type whose
/// characters were all removed by `ExcludeCharacters` is no longer required.
pub fn generate(opts: &PasswordOptions) -> Result<String, PasswordError> {
    check_length(opts.length as i64)?;
    let classes = classes(opts);
    if classes.is_empty() {
        return Err(PasswordError::NothingToChooseFrom);
    }
    let pool: Vec<char> = classes.iter().flatten().copied().collect();
    let required: Vec<&Vec<char>> = if opts.require_each_included_type {
        classes.iter().filter(|c| c.as_slice() != [' ']).collect()
    } else {
        Vec::new()
    };
    let length = opts.length as usize;
    if required.len() > length {
        return Err(PasswordError::TooShortForRequiredTypes);
    }
    let mut rng = OsRng;
    let mut out: Vec<char> = Vec::with_capacity(length);
    for class in &required {
        out.push(class[rng.gen_range(0..class.len())]);
    }
    while out.len() < length {
        out.push(pool[rng.gen_range(0..pool.len())]);
    }
    out.shuffle(&mut rng);
    Ok(out.into_iter().collect())
}

/// GetRandomPassword's answer. Its Debug output leaves the password out.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRandomPasswordResponse {
    random_password: String,
}

impl std::fmt::Debug for GetRandomPasswordResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetRandomPasswordResponse")
            .finish_non_exhaustive()
    }
}

/// GetRandomPassword.
pub fn get_random_password(
    _ctx: &Ctx,
    req: GetRandomPasswordRequest<'_>,
) -> Result<GetRandomPasswordResponse, ApiError> {
    let opts = PasswordOptions {
        length: req
            .password_length
            .map_or(Ok(DEFAULT_LENGTH), check_length)
            .map_err(to_api)?,
        exclude_characters: req.exclude_characters.unwrap_or_default().to_string(),
        exclude_numbers: req.exclude_numbers.unwrap_or(false),
        exclude_punctuation: req.exclude_punctuation.unwrap_or(false),
        exclude_uppercase: req.exclude_uppercase.unwrap_or(false),
        exclude_lowercase: req.exclude_lowercase.unwrap_or(false),
        include_space: req.include_space.unwrap_or(false),
        require_each_included_type: req.require_each_included_type.unwrap_or(true),
    };
    let random_password = generate(&opts).map_err(to_api)?;
    Ok(GetRandomPasswordResponse { random_password })
}

fn to_api(e: PasswordError) -> ApiError {
    ApiError::new(400, e.code(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(p: &str, set: &str) -> bool {
        p.chars().any(|c| set.contains(c))
    }

    #[test]
    fn default_is_32_chars_with_every_type() {
        for _ in 0..200 {
            let p = generate(&PasswordOptions::default()).expect("default options generate");
            assert_eq!(p.chars().count(), 32);
            assert!(
                has(&p, LOWERCASE) && has(&p, UPPERCASE) && has(&p, DIGITS) && has(&p, PUNCTUATION)
            );
            assert!(!p.contains(' '));
        }
    }

    #[test]
    fn four_chars_always_hold_the_four_types_in_random_positions() {
        let mut last_is_punct = 0;
        for _ in 0..400 {
            let p = generate(&PasswordOptions {
                length: 4,
                ..Default::default()
            })
            .expect("length 4");
            assert!(
                has(&p, LOWERCASE) && has(&p, UPPERCASE) && has(&p, DIGITS) && has(&p, PUNCTUATION),
                "{p}"
            );
            if PUNCTUATION.contains(p.chars().last().unwrap_or('a')) {
                last_is_punct += 1;
            }
        }
        // Appended required characters would put punctuation last every time; shuffled, about a quarter.
        assert!(
            last_is_punct < 200,
            "required characters are not shuffled: {last_is_punct}/400"
        );
    }

    #[test]
    fn exclusions_are_honoured() {
        let opts = PasswordOptions {
            length: 200,
            exclude_numbers: true,
            exclude_punctuation: true,
            exclude_characters: "abcXYZ".into(),
            ..Default::default()
        };
        let p = generate(&opts).expect("letters only");
        assert!(!has(&p, DIGITS) && !has(&p, PUNCTUATION) && !has(&p, "abcXYZ"));
        assert!(has(&p, LOWERCASE) && has(&p, UPPERCASE));
        let lower_only = PasswordOptions {
            length: 50,
            exclude_numbers: true,
            exclude_punctuation: true,
            exclude_uppercase: true,
            ..Default::default()
        };
        assert!(generate(&lower_only)
            .expect("lower")
            .chars()
            .all(|c| c.is_ascii_lowercase()));
    }

    #[test]
    fn include_space_adds_spaces() {
        let opts = PasswordOptions {
            length: 400,
            include_space: true,
            exclude_numbers: true,
            exclude_lowercase: true,
            exclude_uppercase: true,
            ..Default::default()
        };
        let p = generate(&opts).expect("punct and space");
        assert!(p.contains(' '));
        assert!(p.chars().all(|c| c == ' ' || PUNCTUATION.contains(c)));
    }

    #[test]
    fn errors() {
        assert_eq!(
            generate(&PasswordOptions {
                length: 3,
                ..Default::default()
            }),
            Err(PasswordError::TooShortForRequiredTypes)
        );
        let p = generate(&PasswordOptions {
            length: 1,
            require_each_included_type: false,
            ..Default::default()
        });
        assert_eq!(p.expect("no requirement").len(), 1);
        let all = PasswordOptions {
            exclude_numbers: true,
            exclude_punctuation: true,
            exclude_uppercase: true,
            exclude_lowercase: true,
            ..Default::default()
        };
        assert_eq!(generate(&all), Err(PasswordError::NothingToChooseFrom));
        assert_eq!(
            generate(&all).expect_err("should fail").code(),
            "InvalidParameterException"
        );
        let excluded_by_chars = PasswordOptions {
            exclude_characters: format!("{LOWERCASE}{UPPERCASE}{DIGITS}{PUNCTUATION}"),
            ..Default::default()
        };
        assert_eq!(
            generate(&excluded_by_chars),
            Err(PasswordError::NothingToChooseFrom)
        );
        assert_eq!(
            check_length(0).expect_err("should fail").code(),
            "ValidationException"
        );
        assert!(check_length(4097).is_err());
        assert_eq!(check_length(4096), Ok(4096));
        assert_eq!(
            generate(&PasswordOptions {
                length: 4096,
                ..Default::default()
            })
            .map(|p| p.len()),
            Ok(4096)
        );
    }

    #[test]
    fn a_class_emptied_by_exclude_characters_is_not_required() {
        let opts = PasswordOptions {
            length: 3,
            exclude_characters: DIGITS.into(),
            ..Default::default()
        };
        let p = generate(&opts).expect("three remaining types fit in three characters");
        assert!(!has(&p, DIGITS));
    }
}
