//! A JSON column that reads without failing its row.
//!
//! A JSON value the database holds but the driver cannot decode (nested past
//! serde_json's recursion limit, stored before inputs were bounded or by
//! hand) would otherwise fail every query that selects the row, and with it
//! whole lists. Read through this type, the row loads and only the field
//! that holds the value reports the fault.

use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ActiveValue, ColIdx, IntoActiveValue, QueryResult, TryGetError, TryGetable, Value};
use serde::{Deserialize, Serialize};

/// A JSON value as read from the database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StoredJson {
    /// The value, decoded.
    Value(serde_json::Value),
    /// Why the stored value could not be decoded.
    Unreadable(String),
}

impl StoredJson {
    /// The value, or why it cannot be read.
    pub fn value(&self) -> Result<&serde_json::Value, &str> {
        match self {
            StoredJson::Value(value) => Ok(value),
            StoredJson::Unreadable(reason) => Err(reason),
        }
    }
}

impl From<serde_json::Value> for StoredJson {
    fn from(value: serde_json::Value) -> Self {
        StoredJson::Value(value)
    }
}

impl From<StoredJson> for Value {
    fn from(stored: StoredJson) -> Self {
        match stored {
            StoredJson::Value(value) => value.into(),
            // Never written back: an unreadable value is only replaced.
            StoredJson::Unreadable(_) => Value::Json(None),
        }
    }
}

impl TryGetable for StoredJson {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        match <serde_json::Value as TryGetable>::try_get_by(res, index) {
            Ok(value) => Ok(StoredJson::Value(value)),
            Err(TryGetError::DbErr(e)) => Ok(StoredJson::Unreadable(e.to_string())),
            Err(e) => Err(e),
        }
    }
}

impl ValueType for StoredJson {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        <serde_json::Value as ValueType>::try_from(v).map(StoredJson::Value)
    }

    fn type_name() -> String {
        "StoredJson".to_owned()
    }

    fn array_type() -> ArrayType {
        ArrayType::Json
    }

    fn column_type() -> ColumnType {
        ColumnType::JsonBinary
    }
}

impl Nullable for StoredJson {
    fn null() -> Value {
        <serde_json::Value as Nullable>::null()
    }
}

impl IntoActiveValue<StoredJson> for StoredJson {
    fn into_active_value(self) -> ActiveValue<StoredJson> {
        ActiveValue::Set(self)
    }
}
