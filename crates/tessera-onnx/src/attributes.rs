//! Typed access to a node's attributes, with defaults and messages naming the attribute.

use crate::error::NodeResult;
use crate::proto::attribute_proto::AttributeType;
use crate::proto::{AttributeProto, NodeProto, TensorProto};

/// The attributes of one node.
pub(crate) struct Attributes<'a> {
    node: &'a NodeProto,
}

impl<'a> Attributes<'a> {
    pub fn of(node: &'a NodeProto) -> Self {
        Self { node }
    }

    fn get(&self, name: &str, expected: AttributeType) -> NodeResult<Option<&'a AttributeProto>> {
        let Some(attr) = self.node.attribute.iter().find(|a| a.name() == name) else { return Ok(None) };
        if attr.r#type() != expected {
            return Err(format!(
                "attribute '{name}' should be {}, found {}",
                expected.as_str_name(),
                attr.r#type().as_str_name()
            )
            .into());
        }
        Ok(Some(attr))
    }

    pub fn int(&self, name: &str, default: i64) -> NodeResult<i64> {
        Ok(self.get(name, AttributeType::Int)?.map_or(default, |a| a.i()))
    }

    pub fn ints(&self, name: &str) -> NodeResult<Option<&'a [i64]>> {
        Ok(self.get(name, AttributeType::Ints)?.map(|a| a.ints.as_slice()))
    }

    /// A float attribute as the decimal number it was most likely written as: ONNX stores
    /// `1e-5` as the `f32` nearest to it, and its shortest decimal form gives `1e-5` back.
    pub fn float(&self, name: &str, default: f64) -> NodeResult<f64> {
        Ok(self.get(name, AttributeType::Float)?.map_or(default, |a| decimal_f64(a.f())))
    }

    pub fn floats(&self, name: &str) -> NodeResult<Option<&'a [f32]>> {
        Ok(self.get(name, AttributeType::Floats)?.map(|a| a.floats.as_slice()))
    }

    pub fn string(&self, name: &str, default: &str) -> NodeResult<String> {
        Ok(self
            .get(name, AttributeType::String)?
            .map_or(default.to_string(), |a| String::from_utf8_lossy(a.s()).into_owned()))
    }

    pub fn tensor(&self, name: &str) -> NodeResult<Option<&'a TensorProto>> {
        Ok(self.get(name, AttributeType::Tensor)?.and_then(|a| a.t.as_ref()))
    }

    /// Names of the attributes present, for refusing ones the importer does not know.
    pub fn names(&self) -> impl Iterator<Item = &'a str> {
        self.node.attribute.iter().map(|a| a.name())
    }
}

/// The `f64` of the shortest decimal that rounds to `x` (`0.1f32` gives `0.1`, not
/// `0.10000000149011612`).
pub(crate) fn decimal_f64(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_with(attrs: Vec<AttributeProto>) -> NodeProto {
        NodeProto { attribute: attrs, ..Default::default() }
    }

    #[test]
    fn float_attributes_come_back_as_their_decimal_values() {
        assert_eq!(decimal_f64(1e-5), 1e-5);
        assert_eq!(decimal_f64(0.9), 0.9);
        let attr = AttributeProto {
            name: Some("epsilon".into()),
            r#type: Some(AttributeType::Float as i32),
            f: Some(1e-3),
            ..Default::default()
        };
        let node = node_with(vec![attr]);
        assert_eq!(Attributes::of(&node).float("epsilon", 1e-5).unwrap(), 1e-3);
        assert_eq!(Attributes::of(&node).float("alpha", 0.01).unwrap(), 0.01);
    }

    #[test]
    fn wrong_attribute_type_is_named() {
        let attr = AttributeProto {
            name: Some("group".into()),
            r#type: Some(AttributeType::Floats as i32),
            floats: vec![1.0],
            ..Default::default()
        };
        let node = node_with(vec![attr]);
        let Err(crate::error::NodeProblem::Invalid(message)) = Attributes::of(&node).int("group", 1) else {
            panic!("expected an error")
        };
        assert!(message.contains("'group'") && message.contains("FLOATS"), "{message}");
    }
}
