// Package policy owns Keyward's ACL policies: request path canonicalisation
// (CleanPath, CleanRawPath), parsing and formatting Vault's HCL/JSON policy
// syntax (Parse, Format, ValidName), the built-in default policy, identity
// templating, and compiling policies into an ACL that decides requests
// (Compile, ACL.Check, ACL.Capabilities).
//
// Matching follows Vault. An exact pattern matches only the identical path.
// A trailing "*" is a prefix glob and a "+" segment matches exactly one path
// segment. An exact match always wins; otherwise, among matching patterns,
// the one whose first "+" or "*" occurs latest wins, then one not ending in
// "*", then one with fewer "+" segments, then the longer, then the
// lexicographically larger. Rules for the same pattern from several
// policies are merged, and "deny" on a pattern overrides everything else on
// it. Paths matching no rule are denied.
//
// Choices where Vault leaves room: a LIST is always evaluated on the path
// with a trailing "/" (as Vault's HTTP layer does), so deny on
// "foo/metadata/private/*" also denies listing "foo/metadata/private"; as in
// Vault, an exact rule on "d" still answers a LIST of "d/". "+" is only a
// wildcard as a whole segment and "*" only at the end of a pattern; other
// placements are parse errors. Unknown capabilities (including Vault's
// "subscribe" and "recover") are parse errors.
//
// Request paths are never normalised, only validated: anything a later
// decoding or cleaning step could turn into a different path is rejected.
// Template values are likewise validated, never escaped, and a rule whose
// template cannot be safely rendered matches nothing.
//
// Conditions: a path block may hold condition blocks (Condition). Inside
// a block every field must hold; a rule with several blocks grants when any
// holds. They are compiled with the ACL and evaluated by CheckRequest
// against a RequestContext the caller fills; a condition whose input is
// unknown does not hold, so the rule grants nothing (deny when a condition
// cannot be evaluated). Check, CheckAliased and Capabilities have no
// context and never grant a conditional capability. A deny rule cannot
// have conditions. Explain says which rule and condition decided; Reach
// answers who-can questions; Environments labels path prefixes and
// LintEnvironments flags grants that let non-production callers read
// production paths. Time zones come from the embedded tz database.
//
// The package never grants root: a token whose policy list is exactly
// ["root"] is recognised by the caller. It holds no secrets and must never
// import other Keyward packages or perform I/O.
package policy
