//! Sections tagged by `kind` (`[model]`, `[volume.prior]`), read so that an error names its key:
//! serde's derive for a `tag = "kind"` enum reads the section into a buffer first, and its errors
//! name only the section.

use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A section's `kind` and its other fields, not yet read.
pub struct Tagged {
    section: &'static str,
    /// The section's `kind`.
    pub kind: String,
    fields: toml::Table,
}

impl Tagged {
    /// Reads the section as a table and takes its `kind` (a string).
    pub fn read<'de, D: Deserializer<'de>>(d: D, section: &'static str) -> Result<Self, D::Error> {
        let mut fields = toml::Table::deserialize(d)?;
        let kind = match fields.remove("kind") {
            Some(toml::Value::String(kind)) => kind,
            Some(other) => {
                return Err(de::Error::custom(format!(
                    "{section}.kind = {other}: expected a string"
                )))
            }
            None => return Err(de::Error::missing_field("kind")),
        };
        Ok(Self {
            section,
            kind,
            fields,
        })
    }

    /// The other fields read into the kind's own type (a struct, serde's derive), one field at a
    /// time: a value of the wrong type is named `<section>.<key>`; an unknown or missing field is
    /// named by the struct's derive.
    pub fn into_section<T: DeserializeOwned, E: de::Error>(self) -> Result<T, E> {
        T::deserialize(Fields::<E> {
            section: self.section,
            fields: self.fields,
            error: PhantomData,
        })
    }

    /// Rejects the fields a kind does not have (naming the first), before any is read.
    pub fn only<E: de::Error>(&self, known: &'static [&'static str]) -> Result<(), E> {
        match self.fields.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(E::unknown_field(k, known)),
            None => Ok(()),
        }
    }

    /// Reads one field, named `<section>.<key>` when it has the wrong type.
    pub fn take<T: DeserializeOwned, E: de::Error>(&mut self, key: &'static str) -> Result<T, E> {
        let value = self
            .fields
            .remove(key)
            .ok_or_else(|| E::missing_field(key))?;
        value
            .try_into()
            .map_err(|e: toml::de::Error| E::custom(field_message(self.section, key, &e)))
    }
}

fn field_message(section: &str, key: &str, e: &toml::de::Error) -> String {
    format!("{section}.{key}: {}", e.message().trim())
}

/// A section's fields as a map whose values' errors name their key.
struct Fields<E> {
    section: &'static str,
    fields: toml::Table,
    error: PhantomData<E>,
}

impl<'de, E: de::Error> Deserializer<'de> for Fields<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_map(FieldsAccess::<E> {
            section: self.section,
            fields: self.fields.into_iter(),
            value: None,
            error: PhantomData,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

struct FieldsAccess<E> {
    section: &'static str,
    fields: <toml::Table as IntoIterator>::IntoIter,
    value: Option<(String, toml::Value)>,
    error: PhantomData<E>,
}

impl<'de, E: de::Error> MapAccess<'de> for FieldsAccess<E> {
    type Error = E;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, E> {
        let Some((key, value)) = self.fields.next() else {
            return Ok(None);
        };
        let k = seed.deserialize(key.as_str().into_deserializer())?;
        self.value = Some((key, value));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, E> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| E::custom("a value without its key"))?;
        seed.deserialize(value)
            .map_err(|e: toml::de::Error| E::custom(field_message(self.section, &key, &e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Shape {
        width: usize,
        #[serde(default)]
        scale: f64,
    }

    fn read(text: &str) -> Result<Shape, String> {
        let t: toml::Table = toml::from_str(text).unwrap();
        let tagged = Tagged::read(toml::Value::Table(t), "model").map_err(|e| e.to_string())?;
        tagged
            .into_section::<Shape, toml::de::Error>()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn errors_name_the_key_inside_the_section() {
        assert_eq!(
            read("kind = \"a\"\nwidth = 3\n").unwrap(),
            Shape {
                width: 3,
                scale: 0.0
            }
        );
        let err = read("kind = \"a\"\nwidth = \"three\"\n").unwrap_err();
        assert!(err.contains("model.width"), "{err}");
        let err = read("kind = \"a\"\nwidth = 3\nscale = [1]\n").unwrap_err();
        assert!(err.contains("model.scale"), "{err}");
        let err = read("kind = \"a\"\nwidht = 3\n").unwrap_err();
        assert!(err.contains("widht"), "{err}");
        let err = read("kind = \"a\"\n").unwrap_err();
        assert!(err.contains("width"), "{err}");
        let err = read("kind = 3\nwidth = 3\n").unwrap_err();
        assert!(err.contains("model.kind"), "{err}");
    }
}
