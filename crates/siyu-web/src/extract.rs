//! Request extractors: strict JSON bodies and API-key authentication, each failing with a
//! problem+json that names the field; and the shared page-parameter parser.

use crate::AppState;
use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use siyu_domain::access::Principal;
use siyu_domain::access::api_keys::KeyKind;

/// A JSON body deserialised strictly: wrong types, unknown fields and malformed JSON are 400s naming
/// the field; a body over the limit is a 413; a non-JSON content type is a 415.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", "the body exceeds the size limit")
            } else {
                Problem::malformed("body", rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserialises JSON, naming the path of the first offending field. Every struct must come from a
/// JSON object: serde would also build one from an array of its fields in order (`[…]` for a
/// customer, or settings that silently reset to defaults), which no API caller means.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // The plain parser is about twice as fast; the path-tracking one only runs to explain a failure.
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    if let Ok(value) = T::deserialize(objects_only::ObjectsOnly(&mut deserializer))
        && deserializer.end().is_ok()
    {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(objects_only::ObjectsOnly(&mut deserializer)).map_err(|error| {
        let path = error.path().to_string();
        // serde's messages end with " at line L column C"; keep them, they help with big bodies.
        let inner = error.into_inner();
        // A syntax error has no meaningful path ("?" or "."): the body as a whole is at fault.
        let field = if inner.is_syntax() || inner.is_eof() || path == "." || path.contains('?') {
            "body".to_string()
        } else {
            path
        };
        Problem::malformed(field, inner.to_string())
    })?;
    deserializer.end().map_err(|error| Problem::malformed("body", error.to_string()))?;
    Ok(value)
}

/// Reads either a string or an object `T`, refusing anything else: the shape of an API input that
/// is "an event name, or an object with more". serde's untagged enums would do this by buffering
/// the input, and then build `T` from an array of its fields, past [`parse_json`]'s objects-only
/// check (and the check would not reach `T`'s own fields); this reads the object through the
/// deserializer it is given, so the check holds at every depth.
pub fn name_or_object<'de, D, T>(deserializer: D, expecting: &'static str) -> Result<Result<String, T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct Visitor<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
        type Value = Result<String, T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Ok(text.to_owned()))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Err)
        }
    }
    deserializer.deserialize_any(Visitor(expecting, std::marker::PhantomData))
}

mod objects_only {
    //! A deserializer adapter that refuses to build a struct (or a struct variant) from a sequence,
    //! at every depth; everything else passes through unchanged.

    use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
    use std::fmt;

    pub(super) struct ObjectsOnly<D>(pub(super) D);

    struct Guard<V> {
        inner: V,
        /// Set when the visitor builds a struct, which must come from a map.
        struct_from_map: bool,
    }

    fn guard<V>(inner: V) -> Guard<V> {
        Guard { inner, struct_from_map: false }
    }

    macro_rules! forward {
        ($($method:ident $(($($arg:ident: $ty:ty),*))?),* $(,)?) => {$(
            fn $method<V: Visitor<'de>>(self, $($($arg: $ty,)*)? visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method($($($arg,)*)? guard(visitor))
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectsOnly<D> {
        type Error = D::Error;

        forward!(
            deserialize_any, deserialize_bool, deserialize_i8, deserialize_i16, deserialize_i32, deserialize_i64,
            deserialize_i128, deserialize_u8, deserialize_u16, deserialize_u32, deserialize_u64, deserialize_u128,
            deserialize_f32, deserialize_f64, deserialize_char, deserialize_str, deserialize_string,
            deserialize_bytes, deserialize_byte_buf, deserialize_option, deserialize_unit,
            deserialize_unit_struct(name: &'static str), deserialize_newtype_struct(name: &'static str),
            deserialize_seq, deserialize_tuple(len: usize),
            deserialize_tuple_struct(name: &'static str, len: usize), deserialize_map,
            deserialize_enum(name: &'static str, variants: &'static [&'static str]),
            deserialize_identifier, deserialize_ignored_any,
        );

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_struct(name, fields, Guard { inner: visitor, struct_from_map: true })
        }

        fn is_human_readable(&self) -> bool {
            self.0.is_human_readable()
        }
    }

    macro_rules! pass {
        ($($method:ident($ty:ty)),* $(,)?) => {$(
            fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
                self.inner.$method(value)
            }
        )*};
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Guard<V> {
        type Value = V::Value;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            self.inner.expecting(formatter)
        }

        pass!(
            visit_bool(bool),
            visit_i8(i8),
            visit_i16(i16),
            visit_i32(i32),
            visit_i64(i64),
            visit_i128(i128),
            visit_u8(u8),
            visit_u16(u16),
            visit_u32(u32),
            visit_u64(u64),
            visit_u128(u128),
            visit_f32(f32),
            visit_f64(f64),
            visit_char(char),
            visit_str(&str),
            visit_borrowed_str(&'de str),
            visit_string(String),
            visit_bytes(&[u8]),
            visit_borrowed_bytes(&'de [u8]),
            visit_byte_buf(Vec<u8>),
        );

        fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
            self.inner.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
            self.inner.visit_some(ObjectsOnly(deserializer))
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
            self.inner.visit_newtype_struct(ObjectsOnly(deserializer))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
            if self.struct_from_map {
                return Err(de::Error::custom("expected a JSON object, not an array"));
            }
            self.inner.visit_seq(Seq(seq))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
            self.inner.visit_map(Map(map))
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
            self.inner.visit_enum(Enum(data))
        }
    }

    struct Seed<S>(S);

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
        type Value = S::Value;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
            self.0.deserialize(ObjectsOnly(deserializer))
        }
    }

    struct Seq<A>(A);

    impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<A> {
        type Error = A::Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
            self.0.next_element_seed(Seed(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }

    struct Map<A>(A);

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
            self.0.next_key_seed(Seed(seed))
        }

        fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
            self.0.next_value_seed(Seed(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }

    struct Enum<A>(A);

    impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Enum<A> {
        type Error = A::Error;
        type Variant = Variant<A::Variant>;

        fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self::Variant), A::Error> {
            self.0.variant_seed(Seed(seed)).map(|(value, variant)| (value, Variant(variant)))
        }
    }

    struct Variant<A>(A);

    impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<A> {
        type Error = A::Error;

        fn unit_variant(self) -> Result<(), A::Error> {
            self.0.unit_variant()
        }

        fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
            self.0.newtype_variant_seed(Seed(seed))
        }

        fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
            self.0.tuple_variant(len, guard(visitor))
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            self.0.struct_variant(fields, Guard { inner: visitor, struct_from_map: true })
        }
    }
}

/// The principal of a request authenticated with a secret API key (`Authorization: Bearer …`).
pub struct ApiAuth(pub Principal);

/// A principal that [`crate::api::authorize`] authenticated and checked for the route's
/// permissions, left in the request's extensions for [`ApiAuth`].
#[derive(Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(Authenticated(principal)) = parts.extensions.get::<Authenticated>() {
            return Ok(ApiAuth(principal.clone()));
        }
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "missing Authorization header; send Authorization: Bearer <secret key>",
            )
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", "expected a Bearer token"))?;
        let (_, principal) = state.services.access.authenticate_key(token, KeyKind::Secret).await?;
        Ok(ApiAuth(principal))
    }
}

/// Applies a `limit` or `cursor` query parameter to a page request; returns `Ok(false)` for any
/// other parameter so the caller can handle (or reject) it.
pub fn page_param(page: &mut siyu_core::PageRequest, key: &str, value: &str) -> Result<bool, Problem> {
    use siyu_core::PageRequest;
    match key {
        "limit" => {
            page.limit =
                value.parse().ok().filter(|l| (1..=PageRequest::MAX_LIMIT).contains(l)).ok_or_else(|| {
                    Problem::malformed("limit", format!("\"{value}\" must be a number from 1 to 1000"))
                })?;
            Ok(true)
        }
        "cursor" => {
            let after = PageRequest::decode_cursor(value)
                .ok_or_else(|| Problem::malformed("cursor", format!("\"{value}\" is not a cursor from this API")))?;
            page.after = Some(after);
            Ok(true)
        }
        _ => Ok(false),
    }
}
