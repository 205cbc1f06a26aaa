//! The codes runnergen reports, typed: errors (E…) and notes (N…) with their meaning, and
//! the lint rules (L…) by their ID. Each prints as its text, and sorting codes sorts them as
//! the printed texts do.

/// A lint rule's ID (`findings::RULES` holds the rules): what a finding is of and what an
/// `acknowledge:` entry names.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    L001,
    L002,
    L003,
    L004,
    L005,
    L006,
    L007,
    L008,
    L009,
    L010,
    L011,
}

impl RuleId {
    /// Every rule, in order.
    pub const ALL: [RuleId; 11] = [
        RuleId::L001,
        RuleId::L002,
        RuleId::L003,
        RuleId::L004,
        RuleId::L005,
        RuleId::L006,
        RuleId::L007,
        RuleId::L008,
        RuleId::L009,
        RuleId::L010,
        RuleId::L011,
    ];

    /// The ID as printed (`L001`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RuleId::L001 => "L001",
            RuleId::L002 => "L002",
            RuleId::L003 => "L003",
            RuleId::L004 => "L004",
            RuleId::L005 => "L005",
            RuleId::L006 => "L006",
            RuleId::L007 => "L007",
            RuleId::L008 => "L008",
            RuleId::L009 => "L009",
            RuleId::L010 => "L010",
            RuleId::L011 => "L011",
        }
    }

    /// The rule with this ID, if there is one.
    pub fn parse(id: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|r| r.as_str() == id)
    }

    /// What one finding of the rule is about, which an acknowledgement names to cover it
    /// (`findings::RULES` shows it; a test keeps the two equal).
    pub const fn subject(self) -> SubjectKind {
        match self {
            RuleId::L001 | RuleId::L007 | RuleId::L008 => SubjectKind::Role,
            RuleId::L006 => SubjectKind::Permission,
            RuleId::L002
            | RuleId::L003
            | RuleId::L004
            | RuleId::L005
            | RuleId::L009
            | RuleId::L010
            | RuleId::L011 => SubjectKind::Runner,
        }
    }
}

/// What a lint rule's finding is about beyond the rule, and so what an `acknowledge:` entry of
/// the rule names besides `rule` to cover exactly that finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectKind {
    /// The runner as a whole: the rule finds it at most once per environment. Nothing more.
    Runner,
    /// One role assignment: `role` and `scope`, as written in `identity.roles`.
    Role,
    /// One Microsoft Graph permission: `permission`, as written in `identity.graphPermissions`.
    Permission,
}

impl SubjectKind {
    /// The fields an acknowledgement of such a rule writes besides `rule` and `reason`.
    pub const fn fields(self) -> &'static [&'static str] {
        match self {
            SubjectKind::Runner => &[],
            SubjectKind::Role => &["role", "scope"],
            SubjectKind::Permission => &["permission"],
        }
    }

    /// What one finding is about, in words (`L001 is about one role assignment`).
    pub const fn about(self) -> &'static str {
        match self {
            SubjectKind::Runner => "finds the runner as a whole",
            SubjectKind::Role => "is about one role assignment",
            SubjectKind::Permission => "is about one Microsoft Graph permission",
        }
    }
}

/// Every code runnergen reports. Declared in the order of their text (E…, L…, N…), so that
/// sorting by code sorts as the printed codes do; `as_str` is what every output prints.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    E001,
    E002,
    E003,
    E004,
    E005,
    E010,
    E011,
    E012,
    E013,
    E014,
    E015,
    E016,
    E017,
    E018,
    E019,
    E020,
    E021,
    E022,
    E023,
    E024,
    E030,
    E031,
    E040,
    E041,
    E042,
    /// A lint finding.
    Lint(RuleId),
    N001,
    N002,
    N003,
}

impl Code {
    /// The code as printed (`E005`, `L001`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::E001 => "E001",
            Code::E002 => "E002",
            Code::E003 => "E003",
            Code::E004 => "E004",
            Code::E005 => "E005",
            Code::E010 => "E010",
            Code::E011 => "E011",
            Code::E012 => "E012",
            Code::E013 => "E013",
            Code::E014 => "E014",
            Code::E015 => "E015",
            Code::E016 => "E016",
            Code::E017 => "E017",
            Code::E018 => "E018",
            Code::E019 => "E019",
            Code::E020 => "E020",
            Code::E021 => "E021",
            Code::E022 => "E022",
            Code::E023 => "E023",
            Code::E024 => "E024",
            Code::E030 => "E030",
            Code::E031 => "E031",
            Code::E040 => "E040",
            Code::E041 => "E041",
            Code::E042 => "E042",
            Code::N001 => "N001",
            Code::N002 => "N002",
            Code::N003 => "N003",
            Code::Lint(rule) => rule.as_str(),
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<RuleId> for Code {
    fn from(rule: RuleId) -> Self {
        Code::Lint(rule)
    }
}

/// Every error and note code runnergen can report, with what it means (lint rules have their
/// own table, `findings::RULES`). docs/errors.md's table is generated from it.
pub const CODES: &[(Code, &str)] = &[
    (
        Code::E001,
        "the spec is not valid YAML, or exceeds a reading budget (size, depth, aliases)",
    ),
    (Code::E002, "unknown field"),
    (Code::E003, "missing required field"),
    (Code::E004, "wrong type"),
    (
        Code::E005,
        "value not allowed (not one of the choices, out of range, or malformed)",
    ),
    (
        Code::E010,
        "reference to an unknown environment or subscription alias",
    ),
    (
        Code::E011,
        "exactly one of several alternatives must be given",
    ),
    (Code::E012, "malformed GUID"),
    (Code::E013, "malformed OIDC issuer URL"),
    (Code::E014, "unknown Azure role"),
    (Code::E015, "unknown Microsoft Graph permission"),
    (Code::E016, "malformed Azure resource ID"),
    (Code::E017, "chart version too old"),
    (
        Code::E018,
        "an acknowledgement names no lint rule, gives no reason, or does not name what its finding is about (a role assignment or Graph permission the runner has)",
    ),
    (
        Code::E019,
        "the Key Vault store would need more federated credentials than Azure allows",
    ),
    (Code::E020, "a derived name is invalid where it is used"),
    (Code::E021, "two runners derive the same name"),
    (Code::E022, "naming template uses an unknown placeholder"),
    (
        Code::E023,
        "a chart value or config.toml key runnergen sets itself",
    ),
    (
        Code::E024,
        "an environment's identities do not fit its Azure deployment shards (at most 30 per shard)",
    ),
    (Code::E030, "a literal secret in the spec"),
    (Code::E031, "duplicate entry"),
    (
        Code::E040,
        "an identityOutputs file cannot be read or is not a deployment's outputs",
    ),
    (
        Code::E041,
        "a client ID disagrees with the deployment outputs, or two runners share one",
    ),
    (
        Code::E042,
        "a client ID the committed output ties to another identity (a renamed identity)",
    ),
    (
        Code::N001,
        "a runner waits for its managed identity's client ID (phase 1 of the rollout)",
    ),
    (
        Code::N002,
        "an acknowledgement matches no lint finding on its runner in an environment it applies in",
    ),
    (
        Code::N003,
        "the Key Vault store waits for its managed identity's client ID (phase 1)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorting by `Code` sorts as the printed codes do, and each prints as its own name.
    #[test]
    fn codes_sort_and_print_as_their_text() {
        let all: Vec<Code> = CODES
            .iter()
            .map(|(c, _)| *c)
            .chain(RuleId::ALL.into_iter().map(Code::Lint))
            .collect();
        let mut by_code = all.clone();
        by_code.sort();
        let mut by_text = all.clone();
        by_text.sort_by_key(|c| c.as_str());
        assert_eq!(by_code, by_text);
        for c in &all {
            assert_eq!(format!("{c:?}"), c.as_str());
            assert_eq!(c.to_string(), c.as_str());
        }
        for r in RuleId::ALL {
            assert_eq!(RuleId::parse(r.as_str()), Some(r));
        }
        assert_eq!(RuleId::parse("L012"), None);
    }
}
