//! The `maintenance_note` runnergen writes on the runners it manages, read back:
//! `managed by runnergen: <fleet>/<env>/<runner>` (`names::gitlab_marker`), or the form
//! written before fleets had an ID, `managed by runnergen: <env>/<runner>`, which names no
//! fleet and is taken over only with `register --adopt`.

use crate::names::GITLAB_MARKER;

/// Whose a runner is, by its note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// `<fleet>/<env>/<runner>`.
    Fleet { fleet: String, key: String },
    /// `<env>/<runner>`, no fleet: the old form.
    Legacy { key: String },
}

impl Note {
    /// The note's owner, or `None` for a note runnergen did not write.
    pub fn parse(note: &str) -> Option<Note> {
        let rest = note.trim().strip_prefix(GITLAB_MARKER)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let plain = |s: &&str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !parts.iter().all(plain) {
            return None;
        }
        match parts.as_slice() {
            [fleet, env, runner] => Some(Note::Fleet {
                fleet: (*fleet).to_owned(),
                key: format!("{env}/{runner}"),
            }),
            [env, runner] => Some(Note::Legacy {
                key: format!("{env}/{runner}"),
            }),
            _ => None,
        }
    }

    /// `<env>/<runner>`.
    pub fn key(&self) -> &str {
        match self {
            Note::Fleet { key, .. } | Note::Legacy { key } => key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_name_a_fleet_or_are_the_old_form() {
        assert_eq!(
            Note::parse("managed by runnergen: ascode/ss/tf"),
            Some(Note::Fleet {
                fleet: "ascode".into(),
                key: "ss/tf".into()
            })
        );
        assert_eq!(
            Note::parse("managed by runnergen: prd/deploy"),
            Some(Note::Legacy {
                key: "prd/deploy".into()
            })
        );
        for other in [
            "hand-made",
            "managed by runnergen: ",
            "managed by runnergen: a/b/c/d",
            "managed by runnergen: a//c",
            "managed by runnergen: a/b c",
        ] {
            assert_eq!(Note::parse(other), None, "{other}");
        }
    }
}
