//! The shape of an object as merging needs it: which maps are atomic, which
//! lists are atomic, sets or maps keyed by some fields, and the strategic
//! merge patch keys. Server-side apply, strategic merge patch and pruning of
//! unknown fields all walk a value and this schema side by side.
//!
//! Where nothing is known the schema is [`Schema::Deduced`], which follows
//! structured-merge-diff's deduced type: objects merge field by field and
//! lists are atomic.

use std::collections::BTreeMap;
use std::sync::Arc;

/// How a list merges (`x-kubernetes-list-type`, plus `x-kubernetes-list-map-keys`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ListType {
    /// The whole list is one value, replaced as a unit.
    #[default]
    Atomic,
    /// Scalar items, each owned and merged by value.
    Set,
    /// Object items identified by the values of these key fields.
    Map(Vec<String>),
}

/// One node of a schema.
#[derive(Clone, Debug, Default)]
pub enum Schema {
    /// Nothing is known here: objects are granular, lists atomic, and unknown fields are kept.
    #[default]
    Deduced,
    /// A string, number, boolean or null.
    Scalar,
    Object(ObjectSchema),
    Array(ArraySchema),
}

#[derive(Clone, Debug, Default)]
pub struct ObjectSchema {
    /// Declared properties.
    pub fields: BTreeMap<String, Arc<Schema>>,
    /// The schema of undeclared keys (`additionalProperties`), for maps such as labels.
    pub additional: Option<Arc<Schema>>,
    /// `x-kubernetes-map-type: atomic`: the whole object is one value.
    pub atomic: bool,
    /// `x-kubernetes-preserve-unknown-fields: true`: undeclared keys are kept, not pruned.
    pub preserve_unknown: bool,
}

#[derive(Clone, Debug, Default)]
pub struct ArraySchema {
    pub items: Arc<Schema>,
    pub list_type: ListType,
    /// `x-kubernetes-patch-strategy`, e.g. `merge` or `merge,retainKeys`.
    pub patch_strategy: Option<String>,
    /// `x-kubernetes-patch-merge-key`, e.g. `name` for containers.
    pub patch_merge_key: Option<String>,
}

static DEDUCED: Schema = Schema::Deduced;

impl Schema {
    /// The schema of field `name` of an object. Unknown fields are [`Schema::Deduced`].
    pub fn field(&self, name: &str) -> &Schema {
        match self {
            Schema::Object(o) => match o.fields.get(name) {
                Some(s) => s,
                None => o.additional.as_deref().unwrap_or(&DEDUCED),
            },
            _ => &DEDUCED,
        }
    }

    /// True when `name` is neither a declared field nor allowed by `additionalProperties`
    /// or `x-kubernetes-preserve-unknown-fields`; such a field is pruned (or rejected under
    /// `fieldValidation=Strict`). Deduced schemas know every field.
    pub fn is_unknown_field(&self, name: &str) -> bool {
        match self {
            Schema::Object(o) => {
                !o.fields.contains_key(name) && o.additional.is_none() && !o.preserve_unknown
            }
            _ => false,
        }
    }

    /// The schema of the items of a list.
    pub fn items(&self) -> &Schema {
        match self {
            Schema::Array(a) => &a.items,
            _ => &DEDUCED,
        }
    }

    /// The list type of an array; anything that is not a known array is atomic.
    pub fn list_type(&self) -> &ListType {
        static ATOMIC: ListType = ListType::Atomic;
        match self {
            Schema::Array(a) => &a.list_type,
            _ => &ATOMIC,
        }
    }

    /// True for `x-kubernetes-map-type: atomic` objects.
    pub fn is_atomic_map(&self) -> bool {
        matches!(self, Schema::Object(o) if o.atomic)
    }

    /// The strategic-merge-patch merge key of a list, if it merges rather than replaces.
    pub fn patch_merge_key(&self) -> Option<&str> {
        match self {
            Schema::Array(a)
                if a.patch_strategy
                    .as_deref()
                    .is_some_and(|s| s.contains("merge")) =>
            {
                a.patch_merge_key.as_deref()
            }
            _ => None,
        }
    }

    /// The strategic-merge-patch strategy of a list or object (`merge`, `retainKeys`, ...).
    pub fn patch_strategy(&self) -> Option<&str> {
        match self {
            Schema::Array(a) => a.patch_strategy.as_deref(),
            _ => None,
        }
    }
}

/// Hand-built schemas for the unit tests of the merge modules.
#[cfg(test)]
pub mod test_build {
    use super::*;

    pub fn obj(fields: Vec<(&str, Schema)>) -> Schema {
        Schema::Object(ObjectSchema {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), Arc::new(v)))
                .collect(),
            ..Default::default()
        })
    }

    pub fn map_of(values: Schema) -> Schema {
        Schema::Object(ObjectSchema {
            additional: Some(Arc::new(values)),
            ..Default::default()
        })
    }

    pub fn list(items: Schema, list_type: ListType) -> Schema {
        Schema::Array(ArraySchema {
            items: Arc::new(items),
            list_type,
            ..Default::default()
        })
    }

    pub fn keys(names: &[&str]) -> ListType {
        ListType::Map(names.iter().map(|s| s.to_string()).collect())
    }
}
