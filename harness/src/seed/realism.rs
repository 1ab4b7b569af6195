//! Realistic text for a column, from what its name says it holds: emails,
//! names, companies, phone numbers, countries, currencies, slugs, ids...
//! (the `fake` crate, drawn from the row's own random stream).

use fake::faker::address::en::{CityName, CountryName, StateName, StreetName, ZipCode};
use fake::faker::company::en::{CompanyName, Industry};
use fake::faker::currency::en::CurrencyCode;
use fake::faker::internet::en::{SafeEmail, Username};
use fake::faker::job::en::Title as JobTitle;
use fake::faker::lorem::en::{Paragraph, Sentence, Word, Words};
use fake::faker::name::en::{FirstName, LastName, Name};
use fake::faker::phone_number::en::PhoneNumber;
use fake::Fake;
use rand::Rng;

use crate::rng::RowRng;

/// What a text column's name says it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realism {
    Email,
    FirstName,
    LastName,
    FullName,
    Company,
    Phone,
    Street,
    City,
    State,
    Country,
    /// ISO 4217 codes (`USD`): a `currency` column is seldom free text.
    Currency,
    Zip,
    Url,
    Domain,
    Username,
    JobTitle,
    Industry,
    Subject,
    Body,
    Slug,
    /// A random id as applications draw them (cuid-like): ≥ 64 bits.
    Token,
    Word,
}

impl Realism {
    pub fn from_name(column: &str) -> Realism {
        let c = column.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| c.contains(w));
        if c == "id" || c == "uid" || c.ends_with("_uid") {
            Realism::Token
        } else if has(&["email"]) {
            Realism::Email
        } else if has(&["first_name", "firstname", "given_name"]) {
            Realism::FirstName
        } else if has(&["last_name", "lastname", "surname", "family_name"]) {
            Realism::LastName
        } else if has(&["company", "organization", "organisation", "org_name", "business", "tenant_name"]) {
            Realism::Company
        } else if has(&["full_name", "display_name", "contact_name", "author", "owner_name"]) || c == "name" {
            Realism::FullName
        } else if has(&["phone", "mobile", "fax"]) {
            Realism::Phone
        } else if has(&["street", "address"]) {
            Realism::Street
        } else if has(&["city", "town"]) {
            Realism::City
        } else if has(&["state", "region", "province"]) && !has(&["status"]) {
            Realism::State
        } else if has(&["country"]) {
            Realism::Country
        } else if has(&["currency"]) {
            Realism::Currency
        } else if has(&["zip", "postal", "postcode"]) {
            Realism::Zip
        } else if has(&["url", "website", "link", "href"]) {
            Realism::Url
        } else if has(&["domain", "hostname", "host"]) {
            Realism::Domain
        } else if has(&["username", "login", "handle"]) {
            Realism::Username
        } else if has(&["job_title", "position", "role_title"]) {
            Realism::JobTitle
        } else if has(&["industry", "sector"]) {
            Realism::Industry
        } else if has(&["subject", "title", "headline", "summary"]) {
            Realism::Subject
        } else if has(&["body", "content", "description", "notes", "note", "message", "comment", "text", "html"]) {
            Realism::Body
        } else if has(&["slug", "key", "code", "token", "ref", "sku"]) {
            Realism::Slug
        } else {
            Realism::Word
        }
    }

    pub(super) fn sample(self, rng: &mut RowRng) -> String {
        match self {
            Realism::Email => SafeEmail().fake_with_rng(rng),
            Realism::FirstName => FirstName().fake_with_rng(rng),
            Realism::LastName => LastName().fake_with_rng(rng),
            Realism::FullName => Name().fake_with_rng(rng),
            Realism::Company => CompanyName().fake_with_rng(rng),
            Realism::Phone => PhoneNumber().fake_with_rng(rng),
            Realism::Street => StreetName().fake_with_rng(rng),
            Realism::City => CityName().fake_with_rng(rng),
            Realism::State => StateName().fake_with_rng(rng),
            Realism::Country => CountryName().fake_with_rng(rng),
            Realism::Currency => CurrencyCode().fake_with_rng(rng),
            Realism::Zip => ZipCode().fake_with_rng(rng),
            Realism::Url => format!("https://{}.example.com/{}", Word().fake_with_rng::<String, _>(rng), Word().fake_with_rng::<String, _>(rng)),
            Realism::Domain => format!("{}.example.com", Word().fake_with_rng::<String, _>(rng)),
            Realism::Username => Username().fake_with_rng(rng),
            Realism::JobTitle => JobTitle().fake_with_rng(rng),
            Realism::Industry => Industry().fake_with_rng(rng),
            Realism::Subject => Sentence(3..7).fake_with_rng(rng),
            Realism::Body => Paragraph(1..3).fake_with_rng(rng),
            Realism::Slug => Words(2..3).fake_with_rng::<Vec<String>, _>(rng).join("-"),
            Realism::Token => {
                const BASE36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
                // 24 characters of base 36: about 124 bits.
                std::iter::once('c').chain((0..24).map(|_| BASE36[rng.random_range(0..36)] as char)).collect()
            }
            Realism::Word => Word().fake_with_rng(rng),
        }
    }

    /// Makes `base` unique by `ordinal` in a way that keeps its shape.
    pub(super) fn unique(self, base: String, ordinal: u64) -> String {
        match self {
            Realism::Email => match base.split_once('@') {
                Some((local, domain)) => format!("{local}.{ordinal}@{domain}"),
                None => format!("{base}.{ordinal}"),
            },
            Realism::Url => format!("{base}/{ordinal}"),
            Realism::Domain => format!("n{ordinal}.{base}"),
            _ => format!("{base}-{ordinal}"),
        }
    }
}
