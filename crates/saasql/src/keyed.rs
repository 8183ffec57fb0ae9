//! The machinery shared by the aggregates that keep a set of ids per group:
//! `arpa` (customers) and `stickiness` (users by day).
//!
//! A function describes itself with a [`KeyedKernel`]: its parameters, its
//! state fields and its [`GroupsAccumulator`]. [`KeyedAggregate`] turns that
//! into a DataFusion aggregate (DOUBLE unless the kernel gives its result type), running the same
//! accumulator over one group where DataFusion asks for a plain
//! [`Accumulator`] ([`SingleGroup`]). [`IdNumbers`] gives an accumulator's ids
//! 8-byte numbers, so that per-group state holds 8 bytes per id whatever the
//! id's type.

use std::fmt::Debug;
use std::hash::Hash;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, GroupsAccumulator, ReversedUDAF, Signature,
};

use crate::aggregate::SingleGroup;
use crate::args::Params;
use crate::util::ids::{ByteInterner, KeyColumn};

/// What one keyed aggregate is, besides the shared scaffolding.
pub trait KeyedKernel: Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// The accumulator of one call.
    type Groups: GroupsAccumulator + Debug + Sync + 'static;
    /// SQL name.
    fn name(&self) -> &'static str;
    /// Accepted arguments (and the signature built from them).
    fn params(&self) -> &Params;
    /// Generated documentation.
    fn documentation(&self) -> &'static Documentation;
    /// The result type (DOUBLE unless the kernel says otherwise).
    fn return_type(&self) -> DataType {
        DataType::Float64
    }
    /// The fields of the state that [`Self::Groups`] emits and merges.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>>;
    /// The accumulator of one call, with its constant parameters read and
    /// checked.
    fn groups(&self, args: &AccumulatorArgs) -> Result<Self::Groups>;
}

/// A [`KeyedKernel`] as a DataFusion aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KeyedAggregate<T>(pub T);

impl<T: KeyedKernel> AggregateUDFImpl for KeyedAggregate<T> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn signature(&self) -> &Signature {
        self.0.params().signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.0.params().coerce(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.0.params().check(arg_types)?;
        Ok(self.0.return_type())
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(self.0.groups(&args)?)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.0.state_fields(args)
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.0.groups(&args)?))
    }
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(self.0.documentation())
    }
}

/// The ids of one accumulator as 8-byte numbers: integer ids are their own
/// number; string and binary ids are interned once ([`ByteInterner`]) and
/// numbered densely.
#[derive(Debug, Default)]
pub struct IdNumbers {
    /// Whether the ids are integers (see [`KeyColumn::is_int`]).
    int: bool,
    names: ByteInterner,
}

impl IdNumbers {
    /// Numbers for ids of type `id_type`.
    pub fn new(id_type: &DataType) -> Self {
        Self {
            int: KeyColumn::is_int(id_type),
            names: ByteInterner::default(),
        }
    }

    /// Whether the ids are integers, each its own number.
    pub fn is_int(&self) -> bool {
        self.int
    }

    /// The number of row `i`'s id in `keys`.
    #[inline]
    pub fn number(&mut self, function: &str, keys: &KeyColumn, i: usize) -> Result<i64> {
        self.names.number(function, keys, i)
    }

    /// The number of the string or binary id `key`.
    pub fn intern(&mut self, function: &str, key: &[u8]) -> Result<i64> {
        self.names.intern(function, key).map(i64::from)
    }

    /// The bytes of the string or binary id numbered `id`.
    pub fn bytes(&self, id: i64) -> &[u8] {
        self.names.get(id as u32)
    }

    /// Once the accumulator holds no group (`groups` is how many it still
    /// holds), no number is referred to any more: drops the interned ids, so
    /// memory is released after emitting or spilling everything. Called after
    /// the emitted groups' ids were read.
    pub fn release_if_no_groups(&mut self, groups: usize) {
        if groups == 0 {
            self.names = ByteInterner::default();
        }
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.names.size()
    }
}
