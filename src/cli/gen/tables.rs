//! The eight tables: names, schemas, Parquet writer settings, and the column
//! builders (sinks) rows are appended to.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::Result;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table {
    Customers,
    Events,
    Subscriptions,
    Invoices,
    Surveys,
    Tickets,
    SubscriptionItems,
    FxRates,
}

pub(super) const TABLES: [Table; 8] = [
    Table::Customers,
    Table::Events,
    Table::Subscriptions,
    Table::Invoices,
    Table::Surveys,
    Table::Tickets,
    Table::SubscriptionItems,
    Table::FxRates,
];

impl Table {
    pub(super) fn name(self) -> &'static str {
        match self {
            Table::Customers => "customers",
            Table::Events => "events",
            Table::Subscriptions => "subscriptions",
            Table::Invoices => "invoices",
            Table::Surveys => "surveys",
            Table::Tickets => "tickets",
            Table::SubscriptionItems => "subscription_items",
            Table::FxRates => "fx_rates",
        }
    }

    pub(super) fn file_name(self) -> String {
        format!("{}.parquet", self.name())
    }

    /// The name of its output in the output directory: `events` is a folder
    /// of parts, the others one file each.
    pub(super) fn dest_name(self) -> String {
        if self == Table::Events {
            self.name().to_string()
        } else {
            self.file_name()
        }
    }

    pub(super) fn schema(self) -> SchemaRef {
        let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
        let fields = match self {
            Table::Customers => vec![
                f("customer_id", DataType::Int64, false),
                f("name", DataType::Utf8, false),
                f("segment", DataType::Utf8, false),
                f("plan", DataType::Utf8, false),
                f("country", DataType::Utf8, false),
                f("signed_up_at", ts(), false),
            ],
            Table::Events => vec![
                f("event_time", ts(), false),
                f("customer_id", DataType::Int64, false),
                f("user_id", DataType::Int64, false),
                f("event_name", DataType::Utf8, false),
                f("session_id", DataType::Int64, false),
            ],
            Table::Subscriptions => vec![
                f("subscription_id", DataType::Int64, false),
                f("customer_id", DataType::Int64, false),
                f("plan", DataType::Utf8, false),
                f("billing_interval", DataType::Utf8, false),
                f("amount", DataType::Float64, false),
                f("currency", DataType::Utf8, false),
                f("started_at", ts(), false),
                f("ended_at", ts(), true),
            ],
            Table::Invoices => vec![
                f("invoice_id", DataType::Int64, false),
                f("customer_id", DataType::Int64, false),
                f("subscription_id", DataType::Int64, false),
                f("period_start", ts(), false),
                f("period_end", ts(), false),
                f("amount", DataType::Float64, false),
                f("currency", DataType::Utf8, false),
                f("status", DataType::Utf8, false),
                f("paid_at", ts(), true),
            ],
            Table::Surveys => vec![
                f("customer_id", DataType::Int64, false),
                f("user_id", DataType::Int64, false),
                f("kind", DataType::Utf8, false),
                f("score", DataType::Int64, false),
                f("responded_at", ts(), false),
            ],
            Table::Tickets => vec![
                f("ticket_id", DataType::Int64, false),
                f("customer_id", DataType::Int64, false),
                f("opened_at", ts(), false),
                f("resolved_at", ts(), true),
                f("resolved_on_first_contact", DataType::Boolean, true),
                f("channel", DataType::Utf8, false),
            ],
            Table::SubscriptionItems => vec![
                f("customer_id", DataType::Int64, false),
                f("subscription_id", DataType::Utf8, false),
                f("plan", DataType::Utf8, false),
                f("started_at", ts(), false),
                f("ended_at", ts(), true),
                f("canceled_at", ts(), true),
                f("trial_end", ts(), true),
                f("amount", DataType::Float64, false),
                f("quantity", DataType::Int64, false),
                f("currency", DataType::Utf8, false),
                f("billing_interval", DataType::Utf8, false),
                f("interval_count", DataType::Int64, false),
                f("discount_percent", DataType::Float64, true),
                f("discount_amount", DataType::Float64, true),
                f("discount_end", ts(), true),
                f("metered", DataType::Boolean, false),
            ],
            Table::FxRates => vec![
                f("currency", DataType::Utf8, false),
                f("month", DataType::Date32, false),
                f("rate", DataType::Float64, false),
            ],
        };
        Arc::new(Schema::new(fields))
    }

    pub(super) fn writer_properties(self) -> Result<WriterProperties> {
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
        if self == Table::Events {
            // Nearly unique and ascending within a customer: delta encoding
            // beats a dictionary that would overflow anyway.
            for column in ["event_time", "session_id"] {
                builder = builder
                    .set_column_dictionary_enabled(ColumnPath::from(column), false)
                    .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
            }
        }
        Ok(builder.build())
    }
}

pub(super) fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC")
}

pub(super) fn ints() -> Int64Builder {
    Int64Builder::with_capacity(BATCH_ROWS)
}

pub(super) fn strings() -> StringBuilder {
    StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 8)
}

pub(super) fn floats() -> Float64Builder {
    Float64Builder::with_capacity(BATCH_ROWS)
}

pub(super) trait Sink {
    fn len(&self) -> usize;
    fn finish(&mut self) -> Vec<ArrayRef>;
}
