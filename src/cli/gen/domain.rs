//! The simulated business: segments, plans, prices, countries, event names,
//! survey and ticket mixes, as constant tables.

pub(super) const SEGMENTS: [&str; 3] = ["smb", "mid_market", "enterprise"];
pub(super) const SEGMENT_WEIGHTS: [u32; 3] = [65, 25, 10];

pub(super) const PLANS: [&str; 4] = ["starter", "growth", "pro", "enterprise"];
pub(super) const ENTERPRISE_PLAN: usize = 3;
/// Initial plan by segment.
pub(super) const PLAN_WEIGHTS: [[u32; 4]; 3] = [[55, 35, 10, 0], [0, 40, 50, 10], [0, 0, 30, 70]];

pub(super) const INTERVALS: [&str; 3] = ["month", "quarter", "year"];
pub(super) const INTERVAL_MONTHS: [i64; 3] = [1, 3, 12];
pub(super) const MONTH: usize = 0;
pub(super) const YEAR: usize = 2;
/// Initial billing interval by segment.
pub(super) const INTERVAL_WEIGHTS: [[u32; 3]; 3] = [[85, 3, 12], [60, 5, 35], [22, 5, 73]];
/// Price of a billing period relative to its months at the monthly price.
pub(super) const INTERVAL_DISCOUNT: [f64; 3] = [1.0, 0.95, 10.0 / 12.0];

pub(super) const CURRENCIES: [&str; 3] = ["USD", "EUR", "GBP"];
pub(super) const USD: usize = 0;
pub(super) const EUR: usize = 1;
pub(super) const GBP: usize = 2;
/// Monthly list price by currency and plan (enterprise is a base for a
/// negotiated price).
pub(super) const LIST_PRICE: [[f64; 4]; 3] = [
    [29.0, 99.0, 299.0, 1500.0],
    [29.0, 99.0, 299.0, 1500.0],
    [25.0, 85.0, 259.0, 1300.0],
];
/// Monthly churn hazard by segment, before the customer's risk multiplier.
pub(super) const MONTHLY_CHURN: [f64; 3] = [0.05, 0.025, 0.01];

pub(super) struct Country {
    pub(super) code: &'static str,
    pub(super) weight: u32,
    pub(super) utc_offset_hours: i64,
    pub(super) currency: usize,
    pub(super) suffix: &'static str,
}

pub(super) const fn country(
    code: &'static str,
    weight: u32,
    utc_offset_hours: i64,
    currency: usize,
    suffix: &'static str,
) -> Country {
    Country {
        code,
        weight,
        utc_offset_hours,
        currency,
        suffix,
    }
}

pub(super) const COUNTRIES: [Country; 18] = [
    country("US", 34, -6, USD, " Inc."),
    country("GB", 10, 0, GBP, " Ltd"),
    country("DE", 8, 1, EUR, " GmbH"),
    country("CA", 5, -5, USD, " Inc."),
    country("FR", 5, 1, EUR, " SAS"),
    country("IN", 5, 5, USD, " Pvt Ltd"),
    country("NL", 4, 1, EUR, " B.V."),
    country("AU", 4, 10, USD, " Pty Ltd"),
    country("BR", 4, -3, USD, " Ltda"),
    country("ES", 3, 1, EUR, " S.L."),
    country("IT", 3, 1, EUR, " S.r.l."),
    country("SE", 3, 1, EUR, " AB"),
    country("JP", 3, 9, USD, ""),
    country("IE", 2, 0, EUR, " Ltd"),
    country("PL", 2, 1, EUR, ""),
    country("SG", 2, 8, USD, " Pte Ltd"),
    country("MX", 2, -6, USD, ""),
    country("ZA", 1, 2, USD, ""),
];

#[rustfmt::skip]
pub(super) const NAME_FIRST: [&str; 40] = [
    "Acme", "Apex", "Aurora", "Beacon", "Blue", "Bright", "Cedar", "Clear", "Copper", "Crimson",
    "Delta", "Ember", "Evergreen", "Falcon", "Golden", "Granite", "Harbor", "Iron", "Juniper",
    "Keystone", "Lumen", "Maple", "Meridian", "Nimbus", "North", "Nova", "Oak", "Orbit", "Pioneer",
    "Polar", "Quantum", "Redwood", "River", "Silver", "Solar", "Summit", "Swift", "Terra", "Vertex",
    "Willow",
];

#[rustfmt::skip]
pub(super) const NAME_SECOND: [&str; 32] = [
    "Analytics", "Bio", "Capital", "Cloud", "Commerce", "Data", "Design", "Dynamics", "Energy",
    "Foods", "Freight", "Games", "Health", "Home", "Insights", "Labs", "Learning", "Legal",
    "Logistics", "Media", "Mobility", "Networks", "Partners", "Retail", "Robotics", "Security",
    "Software", "Studios", "Systems", "Travel", "Ventures", "Works",
];

pub(super) const LOGIN: u8 = 0;
pub(super) const TICKET_OPENED: u8 = 7;
pub(super) const EVENT_NAMES: [&str; 9] = [
    "login",
    "dashboard_viewed",
    "report_created",
    "export_csv",
    "integration_connected",
    "teammate_invited",
    "api_call",
    "ticket_opened",
    "settings_changed",
];
/// In-session events after the login (login and ticket_opened are produced
/// separately), in the order of `EVENT_NAMES`.
pub(super) const SESSION_WEIGHTS: [u32; 9] = [0, 340, 160, 90, 10, 1, 220, 0, 70];
/// The same during the first two weeks after sign-up: setting up.
pub(super) const ONBOARDING_WEIGHTS: [u32; 9] = [0, 300, 120, 60, 100, 25, 150, 0, 120];

pub(super) const SURVEY_KINDS: [&str; 3] = ["nps", "csat", "ces"];
pub(super) const NPS: u8 = 0;
pub(super) const CSAT: u8 = 1;
pub(super) const CES: u8 = 2;
/// Detractor scores 0..=6.
pub(super) const DETRACTOR_WEIGHTS: [u32; 7] = [2, 1, 2, 3, 5, 7, 10];
/// CSAT 1..=5 after a ticket resolved on first contact, otherwise, and for a
/// customer about to churn.
pub(super) const CSAT_FCR: [u32; 5] = [2, 2, 6, 30, 60];
pub(super) const CSAT_SLOW: [u32; 5] = [8, 10, 22, 35, 25];
pub(super) const CSAT_AT_RISK: [u32; 5] = [16, 18, 26, 26, 14];
/// CES 1..=7, 7 = "very easy".
pub(super) const CES_FCR: [u32; 7] = [1, 1, 3, 8, 17, 35, 35];
pub(super) const CES_SLOW: [u32; 7] = [6, 9, 15, 22, 22, 17, 9];
pub(super) const CES_ONBOARDING: [u32; 7] = [2, 3, 6, 12, 22, 30, 25];

pub(super) const CHANNELS: [&str; 3] = ["email", "chat", "phone"];
pub(super) const PHONE: usize = 2;
/// Ticket channel by segment.
pub(super) const CHANNEL_WEIGHTS: [[u32; 3]; 3] = [[55, 40, 5], [50, 35, 15], [40, 30, 30]];
pub(super) const FCR_PROBABILITY: [f64; 3] = [0.5, 0.74, 0.68];
/// Median minutes to resolve a ticket resolved on first contact, by channel.
pub(super) const FCR_MINUTES: [f64; 3] = [180.0, 15.0, 12.0];

pub(super) const INVOICE_STATUS: [&str; 4] = ["paid", "open", "void", "uncollectible"];
pub(super) const PAID: usize = 0;
pub(super) const OPEN: usize = 1;
pub(super) const VOID: usize = 2;
pub(super) const UNCOLLECTIBLE: usize = 3;

pub(super) fn cumulative<const N: usize>(weights: [u32; N]) -> [u32; N] {
    let mut acc = 0;
    weights.map(|w| {
        acc += w;
        acc
    })
}

pub(super) fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(super) fn micros(x: f64) -> i64 {
    x.round() as i64
}
