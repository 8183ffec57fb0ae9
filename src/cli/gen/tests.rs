//! The generator's tests: determinism, layout, value domains, distributions,
//! option checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use saasql::util::time::{format_date, parse_date};

use super::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("saasql-gen-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tiny(out: &Path) -> GenOptions {
    GenOptions {
        customers: 40,
        days: 45,
        seed: 7,
        out: out.to_path_buf(),
        start_date: DEFAULT_START_DATE,
        events_per_file: 2_000,
    }
}

fn quiet(_: &str, _: u64) {}

/// Every file under `dir`, by relative path.
fn file_contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, fs::read(path).unwrap());
            }
        }
    }
    out
}

/// All rows of a table (a file, or a folder of parts) as one batch.
fn read_table(out: &Path, table: Table) -> RecordBatch {
    let single = out.join(table.file_name());
    let mut files = if single.exists() {
        vec![single]
    } else {
        fs::read_dir(out.join(table.name()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>()
    };
    files.sort();
    let mut batches = Vec::new();
    for f in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(f).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            batches.push(batch.unwrap());
        }
    }
    let schema = table.schema();
    assert_eq!(batches.first().map_or(&schema, |b| b.schema_ref()), &schema);
    concat_batches(&schema, &batches).unwrap()
}

fn ints<'a>(b: &'a RecordBatch, name: &str) -> &'a [i64] {
    b.column_by_name(name)
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
}

fn times(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    b.column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<String> {
    b.column_by_name(name)
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect()
}

#[test]
fn same_options_give_identical_files() {
    let (a, b) = (TempDir::new("det-a"), TempDir::new("det-b"));
    let mut calls = Vec::new();
    let summary_a = generate(&tiny(&a.0), &mut |t, n| calls.push((t.to_string(), n))).unwrap();
    let summary_b = generate(&tiny(&b.0), &mut quiet).unwrap();
    assert_eq!(summary_a, summary_b);

    let (files_a, files_b) = (file_contents(&a.0), file_contents(&b.0));
    assert_eq!(
        files_a.keys().collect::<Vec<_>>(),
        files_b.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &files_a {
        assert!(*bytes == files_b[path], "{} differs", path.display());
    }

    // Layout: seven files and an events folder of full parts.
    for table in TABLES {
        if table != Table::Events {
            assert!(files_a.contains_key(&PathBuf::from(table.file_name())));
        }
    }
    let parts: Vec<_> = files_a.keys().filter(|p| p.starts_with("events")).collect();
    let events = summary_a.tables[1].1;
    assert_eq!(summary_a.tables[1].0, "events");
    assert_eq!(parts.len() as u64, events.div_ceil(2_000));
    assert_eq!(parts[0], &PathBuf::from("events/part-00000.parquet"));
    assert_eq!(files_a.len(), 7 + parts.len(), "no temporary files left");

    // Summary rows and bytes match the files.
    for (table, rows, bytes) in &summary_a.tables {
        let t = TABLES.into_iter().find(|t| t.name() == table).unwrap();
        assert_eq!(read_table(&a.0, t).num_rows() as u64, *rows, "{table}");
        let on_disk: u64 = files_a
            .iter()
            .filter(|(p, _)| p.starts_with(table) || p.as_os_str() == t.file_name().as_str())
            .map(|(_, b)| b.len() as u64)
            .sum();
        assert_eq!(on_disk, *bytes, "{table}");
        assert!(*rows > 0, "{table} is empty");
    }

    // Progress: customers counting up to the total, then every table.
    assert_eq!(calls.first().map(|c| c.0.as_str()), Some("customers"));
    let tail: Vec<_> = calls[calls.len() - TABLES.len()..]
        .iter()
        .map(|c| c.0.as_str())
        .collect();
    assert_eq!(tail, TABLES.map(Table::name));

    // Regenerating in place replaces the files; another seed differs.
    generate(&tiny(&a.0), &mut quiet).unwrap();
    assert_eq!(file_contents(&a.0), files_a);
    let other = GenOptions {
        seed: 8,
        ..tiny(&b.0)
    };
    generate(&other, &mut quiet).unwrap();
    let c = file_contents(&b.0);
    assert_ne!(
        c[&PathBuf::from("customers.parquet")],
        files_a[&PathBuf::from("customers.parquet")]
    );
}

#[test]
fn values_respect_domains() {
    let dir = TempDir::new("domains");
    let opts = tiny(&dir.0);
    generate(&opts, &mut quiet).unwrap();
    let w = Window::new(&opts);
    let history = w.history_start..w.end;
    let window = w.start..w.end;

    let customers = read_table(&dir.0, Table::Customers);
    let ids = ints(&customers, "customer_id");
    assert_eq!(ids, (1..=40).collect::<Vec<i64>>());
    let countries: HashSet<_> = COUNTRIES.iter().map(|c| c.code).collect();
    for segment in strs(&customers, "segment") {
        assert!(SEGMENTS.contains(&segment.as_str()), "{segment}");
    }
    for plan in strs(&customers, "plan") {
        assert!(PLANS.contains(&plan.as_str()), "{plan}");
    }
    for country in strs(&customers, "country") {
        assert!(countries.contains(country.as_str()), "{country}");
    }
    for signed_up in times(&customers, "signed_up_at") {
        assert!(history.contains(&signed_up.unwrap()));
    }

    // Subscriptions, and the stretches each customer is covered.
    let subs = read_table(&dir.0, Table::Subscriptions);
    let amounts = subs
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Float64Type>()
        .values();
    let mut coverage: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    let mut sub_amount = HashMap::new();
    for ((((&sub, &customer), started), ended), &amount) in ints(&subs, "subscription_id")
        .iter()
        .zip(ints(&subs, "customer_id"))
        .zip(times(&subs, "started_at"))
        .zip(times(&subs, "ended_at"))
        .zip(amounts)
    {
        let started = started.unwrap();
        assert!(history.contains(&started));
        if let Some(e) = ended {
            assert!(e > started && e < w.end);
        }
        assert!(amount > 0.0);
        assert!(ids.contains(&customer));
        coverage
            .entry(customer)
            .or_default()
            .push((started, ended.unwrap_or(w.end)));
        sub_amount.insert(sub, amount);
    }
    for interval in strs(&subs, "billing_interval") {
        assert!(INTERVALS.contains(&interval.as_str()), "{interval}");
    }
    for currency in strs(&subs, "currency") {
        assert!(CURRENCIES.contains(&currency.as_str()), "{currency}");
    }

    let invoices = read_table(&dir.0, Table::Invoices);
    let invoice_amounts = invoices
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Float64Type>()
        .values();
    for (((((start, end), paid), status), sub), amount) in times(&invoices, "period_start")
        .into_iter()
        .zip(times(&invoices, "period_end"))
        .zip(times(&invoices, "paid_at"))
        .zip(strs(&invoices, "status"))
        .zip(ints(&invoices, "subscription_id"))
        .zip(invoice_amounts)
    {
        let (start, end) = (start.unwrap(), end.unwrap());
        assert!(history.contains(&start) && end > start);
        assert_eq!(sub_amount[sub], *amount);
        assert!(INVOICE_STATUS.contains(&status.as_str()), "{status}");
        assert_eq!(paid.is_some(), status == "paid");
        if let Some(p) = paid {
            assert!((start..w.end).contains(&p));
        }
    }

    // Events: known names, inside the window and a subscription, users
    // belonging to one customer only.
    let events = read_table(&dir.0, Table::Events);
    let mut user_owner = HashMap::new();
    let mut seen_names = HashSet::new();
    for (((t, &customer), &user), name) in times(&events, "event_time")
        .into_iter()
        .zip(ints(&events, "customer_id"))
        .zip(ints(&events, "user_id"))
        .zip(strs(&events, "event_name"))
    {
        let t = t.unwrap();
        assert!(window.contains(&t));
        assert!(
            coverage[&customer]
                .iter()
                .any(|&(s, e)| (s..e).contains(&t)),
            "event of customer {customer} outside its subscriptions"
        );
        assert_eq!(*user_owner.entry(user).or_insert(customer), customer);
        assert!(EVENT_NAMES.contains(&name.as_str()), "{name}");
        seen_names.insert(name);
    }
    assert!(seen_names.contains("login") && seen_names.contains("dashboard_viewed"));

    let surveys = read_table(&dir.0, Table::Surveys);
    for (((kind, &score), responded), (&customer, user)) in strs(&surveys, "kind")
        .iter()
        .zip(ints(&surveys, "score"))
        .zip(times(&surveys, "responded_at"))
        .zip(
            ints(&surveys, "customer_id")
                .iter()
                .zip(ints(&surveys, "user_id")),
        )
    {
        let range = match kind.as_str() {
            "nps" => 0..=10,
            "csat" => 1..=5,
            "ces" => 1..=7,
            other => panic!("unknown survey kind {other}"),
        };
        assert!(range.contains(&score), "{kind} score {score}");
        assert!(window.contains(&responded.unwrap()));
        if let Some(owner) = user_owner.get(user) {
            assert_eq!(*owner, customer);
        }
    }

    let tickets = read_table(&dir.0, Table::Tickets);
    let first_contact = tickets
        .column_by_name("resolved_on_first_contact")
        .unwrap()
        .as_boolean();
    for (i, (opened, resolved)) in times(&tickets, "opened_at")
        .into_iter()
        .zip(times(&tickets, "resolved_at"))
        .enumerate()
    {
        let opened = opened.unwrap();
        assert!(window.contains(&opened));
        match resolved {
            Some(r) => assert!((opened..w.end).contains(&r) && first_contact.is_valid(i)),
            None => assert!(first_contact.is_null(i)),
        }
    }
    for customer in ints(&tickets, "customer_id") {
        assert!(ids.contains(customer));
    }
    for channel in strs(&tickets, "channel") {
        assert!(CHANNELS.contains(&channel.as_str()), "{channel}");
    }
    let ticket_ids = ints(&tickets, "ticket_id");
    assert!(ticket_ids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn default_start_is_2025_01_01() {
    // The calendar itself is tested in `saasql::util::time`.
    assert_eq!(parse_date("2025-01-01"), Some(DEFAULT_START_DATE));
    assert_eq!(format_date(DEFAULT_START_DATE), "2025-01-01");
}

#[test]
fn distributions() {
    let mut rng = Rng::stream(1, 2, 3);
    let n = 200_000;
    let mean = |rng: &mut Rng, f: &dyn Fn(&mut Rng) -> f64| {
        (0..n).map(|_| f(rng)).sum::<f64>() / f64::from(n)
    };
    assert!((mean(&mut rng, &|r| r.uniform()) - 0.5).abs() < 0.01);
    assert!(mean(&mut rng, &|r| r.normal()).abs() < 0.01);
    assert!((mean(&mut rng, &|r| r.normal().powi(2)) - 1.0).abs() < 0.02);
    assert!((mean(&mut rng, &|r| r.exponential(4.0)) - 4.0).abs() < 0.05);
    assert!((mean(&mut rng, &|r| r.log_normal(-0.405, 0.9)) - 1.0).abs() < 0.03);
    assert!((mean(&mut rng, &|r| r.poisson(2.5) as f64) - 2.5).abs() < 0.03);
    assert!((mean(&mut rng, &|r| r.poisson(50.0) as f64) - 50.0).abs() < 0.1);
    let mut counts = [0u32; 3];
    for _ in 0..n {
        counts[rng.pick(&[1, 0, 3])] += 1;
    }
    assert_eq!(counts[1], 0);
    assert!((f64::from(counts[0]) / f64::from(n) - 0.25).abs() < 0.01);
    let cum = cumulative([0, 2, 0, 2]);
    assert_eq!(cum, [0, 2, 2, 4]);
    for _ in 0..1000 {
        assert!(matches!(rng.pick_cumulative(&cum), 1 | 3));
    }
    // Streams are independent of each other and reproducible.
    assert_eq!(
        Rng::stream(1, 2, 3).next_u64(),
        Rng::stream(1, 2, 3).next_u64()
    );
    assert_ne!(
        Rng::stream(1, 2, 3).next_u64(),
        Rng::stream(1, 3, 3).next_u64()
    );
}

#[test]
fn rejects_bad_options() {
    let dir = TempDir::new("bad");
    let bad = [
        GenOptions {
            days: 0,
            ..tiny(&dir.0)
        },
        GenOptions {
            events_per_file: 0,
            ..tiny(&dir.0)
        },
        GenOptions {
            start_date: i32::MAX,
            ..tiny(&dir.0)
        },
    ];
    for opts in bad {
        let err = generate(&opts, &mut quiet).unwrap_err().to_string();
        assert!(err.contains("gen:"), "{err}");
    }

    // An events folder with foreign files is not replaced.
    fs::create_dir_all(dir.0.join("events")).unwrap();
    fs::write(dir.0.join("events/notes.txt"), "keep me").unwrap();
    let err = generate(&tiny(&dir.0), &mut quiet).unwrap_err().to_string();
    assert!(err.contains("refusing to replace"), "{err}");
    assert!(dir.0.join("events/notes.txt").exists());
    assert!(!dir.0.join("customers.parquet").exists());
}
