//! The `.npy` header: magic, version, header length, then a Python dict literal such as
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
//!
//! Only this small dict is parsed (strings, booleans, integers, tuples and lists, nested at most
//! [`MAX_DEPTH`] deep), with every size checked, so a corrupted header is an error naming the
//! problem, never a panic, an overflow or a huge allocation.

use std::io::Read;
use std::path::Path;

use crate::error::{DataError, Result};

/// The first six bytes of every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy itself refuses headers longer than this by default (`max_header_size`).
const MAX_HEADER_LEN: usize = 10_000;
/// Deepest nesting of tuples/lists accepted in the header dict.
const MAX_DEPTH: usize = 8;

/// What the header of a `.npy` file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The dtype as written, e.g. `<f8`; `None` for a structured (record) dtype.
    pub descr: Option<String>,
    /// Whether the data is stored with the first axis varying fastest.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<u64>,
    /// Bytes before the data (magic, version, length field and header text).
    pub data_offset: u64,
}

/// Reads the header from the start of `reader`, leaving it at the first data byte.
pub(crate) fn read_header(reader: &mut impl Read, path: &Path) -> Result<Header> {
    let bad = |problem: String| DataError::BadHeader { path: path.to_path_buf(), problem };
    let mut preamble = [0u8; 8];
    read_exactly(reader, &mut preamble, path)?;
    if &preamble[..6] != MAGIC {
        return Err(bad("not a .npy file (it does not start with the bytes \\x93NUMPY)".into()));
    }
    let (major, minor) = (preamble[6], preamble[7]);
    let length_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => return Err(bad(format!(".npy format version {major}.{minor} is not supported (1.0, 2.0 or 3.0)"))),
    };
    let mut length = [0u8; 4];
    read_exactly(reader, &mut length[..length_bytes], path)?;
    let header_len = u32::from_le_bytes(length) as usize;
    if header_len > MAX_HEADER_LEN {
        return Err(bad(format!("header of {header_len} bytes (NumPy writes at most {MAX_HEADER_LEN})")));
    }
    let mut text = vec![0u8; header_len];
    read_exactly(reader, &mut text, path)?;
    let text = std::str::from_utf8(&text).map_err(|_| bad("the header is not text".into()))?;
    let mut header = parse_dict(text).map_err(bad)?;
    header.data_offset = (8 + length_bytes + header_len) as u64;
    Ok(header)
}

/// `read_exact` whose end-of-file error says the header is cut short.
fn read_exactly(reader: &mut impl Read, buffer: &mut [u8], path: &Path) -> Result<()> {
    reader.read_exact(buffer).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            DataError::BadHeader { path: path.to_path_buf(), problem: "the file ends inside its header".into() }
        }
        _ => DataError::io(path, e),
    })
}

/// A value of the header dict.
#[derive(Debug, PartialEq)]
enum Literal {
    Str(String),
    Bool(bool),
    Int(u64),
    Seq(Vec<Literal>),
    /// `None` or another name: parsed but never meaningful here.
    Name,
}

/// Parses the header dict and extracts its three keys.
fn parse_dict(text: &str) -> std::result::Result<Header, String> {
    let mut parser = Parser { text: text.as_bytes(), pos: 0 };
    let entries = parser.dict()?;
    parser.skip_space();
    if parser.pos != parser.text.len() {
        return Err(format!("unexpected text after the header dict at byte {}", parser.pos));
    }
    let take = |key: &str| {
        entries.iter().find(|(k, _)| k == key).map(|(_, v)| v).ok_or_else(|| format!("the header has no '{key}'"))
    };
    let descr = match take("descr")? {
        Literal::Str(s) => Some(s.clone()),
        Literal::Seq(_) => None,
        _ => return Err("'descr' is neither a dtype string nor a record description".into()),
    };
    let fortran_order = match take("fortran_order")? {
        Literal::Bool(b) => *b,
        _ => return Err("'fortran_order' is not True or False".into()),
    };
    let shape = match take("shape")? {
        Literal::Seq(items) => items
            .iter()
            .map(|item| match item {
                Literal::Int(n) => Ok(*n),
                _ => Err("'shape' holds something other than non-negative integers".to_string()),
            })
            .collect::<std::result::Result<Vec<u64>, String>>()?,
        _ => return Err("'shape' is not a tuple".into()),
    };
    Ok(Header { descr, fortran_order, shape, data_offset: 0 })
}

/// A recursive-descent reader of the header's Python literal.
struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// Consumes `byte` (after spaces) or fails naming what was expected.
    fn expect(&mut self, byte: u8) -> std::result::Result<(), String> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {} of the header", byte as char, self.pos))
        }
    }

    /// `{key: value, ...}` with string keys and an optional trailing comma.
    fn dict(&mut self) -> std::result::Result<Vec<(String, Literal)>, String> {
        self.expect(b'{')?;
        let mut entries = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(entries);
            }
            let Literal::Str(key) = self.value(0)? else {
                return Err(format!("a header key at byte {} is not a string", self.pos));
            };
            self.expect(b':')?;
            entries.push((key, self.value(0)?));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(format!("expected ',' or '}}' at byte {} of the header", self.pos)),
            }
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Literal, String> {
        self.skip_space();
        match self.peek() {
            Some(quote @ (b'\'' | b'"')) => self.string(quote),
            Some(open @ (b'(' | b'[')) => self.sequence(open, depth),
            Some(b'0'..=b'9') => self.integer(),
            Some(b) if b.is_ascii_alphabetic() => Ok(self.name()),
            _ => Err(format!("unexpected character at byte {} of the header", self.pos)),
        }
    }

    fn string(&mut self, quote: u8) -> std::result::Result<Literal, String> {
        self.pos += 1;
        let mut bytes = Vec::new();
        loop {
            match self.peek() {
                None => return Err("a string in the header is not closed".into()),
                Some(b) if b == quote => break,
                Some(b'\\') => {
                    self.pos += 1;
                    bytes.extend(self.peek());
                }
                Some(b) => bytes.push(b),
            }
            self.pos += 1;
        }
        self.pos += 1;
        String::from_utf8(bytes).map(Literal::Str).map_err(|_| "a string in the header is not text".into())
    }

    fn sequence(&mut self, open: u8, depth: usize) -> std::result::Result<Literal, String> {
        if depth >= MAX_DEPTH {
            return Err(format!("the header nests more than {MAX_DEPTH} levels deep"));
        }
        let close = if open == b'(' { b')' } else { b']' };
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(Literal::Seq(items));
            }
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b) if b == close => {}
                _ => return Err(format!("expected ',' or '{}' at byte {} of the header", close as char, self.pos)),
            }
        }
    }

    /// Decimal digits, with Python 2's optional `L` suffix.
    fn integer(&mut self) -> std::result::Result<Literal, String> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = std::str::from_utf8(&self.text[start..self.pos]).unwrap_or_default();
        let value = digits.parse::<u64>().map_err(|_| format!("the number {digits} in the header is too large"))?;
        if self.peek() == Some(b'L') {
            self.pos += 1;
        }
        Ok(Literal::Int(value))
    }

    fn name(&mut self) -> Literal {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        match &self.text[start..self.pos] {
            b"True" => Literal::Bool(true),
            b"False" => Literal::Bool(false),
            _ => Literal::Name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_headers_parse_whatever_the_key_order_and_spacing() {
        let header = parse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }    \n").unwrap();
        assert_eq!(
            header,
            Header { descr: Some("<f8".into()), fortran_order: false, shape: vec![3, 4], data_offset: 0 }
        );
        let header = parse_dict("{\"shape\":(2L,),\"fortran_order\":True,\"descr\":\">f4\"}").unwrap();
        assert_eq!((header.descr.as_deref(), header.fortran_order, header.shape), (Some(">f4"), true, vec![2]));
        let record = parse_dict("{'descr': [('x', '<f4'), ('y', '<i4', (2,))], 'fortran_order': False, 'shape': ()}");
        assert_eq!(record.unwrap().descr, None);
    }

    #[test]
    fn malformed_headers_name_the_problem() {
        let problem = |text: &str| parse_dict(text).unwrap_err();
        assert!(problem("{'descr': '<f8', 'shape': (3,)}").contains("no 'fortran_order'"));
        assert!(problem("{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}").contains("not True or False"));
        assert!(
            problem("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}").contains("too large")
        );
        assert!(problem("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}").contains("unexpected character"));
        assert!(problem(&format!("{{'shape': {}1{}}}", "(".repeat(50), ")".repeat(50))).contains("nests"));
        assert!(problem("{'descr': '<f8'").contains("expected ','"));
        assert!(problem("{'descr': '<f8} trailing").contains("not closed"));
    }
}
