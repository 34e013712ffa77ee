//! What the peer servers share: the TechEmpower json message.

/// The body of `GET /json`, serialised per request as TechEmpower asks.
pub struct Message {
    /// Always `Hello, World!`.
    pub message: &'static str,
}

impl Message {
    /// The one message every server sends.
    pub const HELLO: Message = Message {
        message: "Hello, World!",
    };
}

impl serde::Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Message", 1)?;
        s.serialize_field("message", self.message)?;
        s.end()
    }
}
