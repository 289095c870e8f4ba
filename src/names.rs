//! Names users give hale: service names and instance ids. Both end up in registry keys, URLs,
//! file paths and (next) Kubernetes objects and image tags, so both are DNS-1123 labels.

/// What a name or id was refused for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {what} {text:?}: {why}; {}", rule_of(what))]
pub struct NameError {
    /// `service name` or `instance id`.
    pub what: &'static str,
    pub text: String,
    pub why: String,
}

const RULE: &str = "use a DNS-1123 label: lowercase letters, digits and '-', at most 63 \
                    characters, starting with a letter or digit and ending with one";

/// A service name's rule is the label's with a lowercase letter first (it is also a Go
/// package and a Kubernetes Service name): the hint says exactly what the check checks.
const SERVICE_RULE: &str = "use a DNS-1123 label that starts with a lowercase letter: \
                            lowercase letters, digits and '-', at most 63 characters, ending \
                            with a letter or digit";

fn rule_of(what: &str) -> &'static str {
    if what == "service name" {
        SERVICE_RULE
    } else {
        RULE
    }
}

/// The longest DNS-1123 label.
pub const MAX_LEN: usize = 63;

/// Check a service name (`orders`, `payment-gateway`). A service name starts with a letter: it
/// becomes a Go package and a Kubernetes object name.
pub fn validate_service_name(name: &str) -> Result<(), NameError> {
    label(name, "service name")?;
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(refuse(
            "service name",
            name,
            "it does not start with a lowercase letter",
        ));
    }
    Ok(())
}

/// Check an instance id (`orders-1`, `orders-127-0-0-1-8080`).
pub fn validate_instance_id(id: &str) -> Result<(), NameError> {
    label(id, "instance id")
}

/// The default instance id of a service reached at `address:port`: `<name>-<address>-<port>`
/// with every character a label cannot hold turned into `-` (`orders-127-0-0-1-8080`).
pub fn default_instance_id(name: &str, address: &str, port: u16) -> String {
    let id: String = format!("{name}-{address}-{port}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

fn refuse(what: &'static str, text: &str, why: &str) -> NameError {
    NameError {
        what,
        text: text.to_string(),
        why: why.to_string(),
    }
}

fn label(text: &str, what: &'static str) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(refuse(what, text, "it is empty"));
    }
    if text.len() > MAX_LEN {
        return Err(refuse(
            what,
            text,
            &format!("it is {} characters long", text.len()),
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(refuse(what, text, &format!("{c:?} is not allowed")));
    }
    if text.starts_with('-') {
        return Err(refuse(what, text, "it starts with '-'"));
    }
    if text.ends_with('-') {
        return Err(refuse(what, text, "it ends with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_dns_labels_starting_with_a_letter() {
        for ok in ["orders", "payment-gateway", "a1", "a"] {
            validate_service_name(ok).unwrap();
        }
        for bad in [
            "", "Orders", "1orders", "-a", "a-", "a_b", "a.b", "../etc", "a/b",
        ] {
            let err = validate_service_name(bad).unwrap_err().to_string();
            assert!(err.contains("DNS-1123 label"), "{bad}: {err}");
        }
        assert!(validate_service_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn instance_ids_are_dns_labels() {
        validate_instance_id("orders-1").unwrap();
        validate_instance_id("7587871234567890").unwrap();
        for bad in ["", "O1", "a.b", "a_b", "a-"] {
            assert!(validate_instance_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_instance_id_is_a_valid_id() {
        assert_eq!(
            default_instance_id("orders", "127.0.0.1", 8080),
            "orders-127-0-0-1-8080"
        );
        assert_eq!(default_instance_id("orders", "::1", 80), "orders-1-80");
        validate_instance_id(&default_instance_id("orders", "::1", 80)).unwrap();
    }
}
