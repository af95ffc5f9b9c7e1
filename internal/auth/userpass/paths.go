package userpass

import (
	"context"
	"strings"

	"github.com/keyward/keyward/internal/auth/tokenparams"
	"github.com/keyward/keyward/internal/logical"
)

const backendHelp = `The userpass auth method authenticates users with a username and a
password (stored as Argon2id hashes), optionally with a TOTP code, and locks
out a user or client after repeated failures.`

// ops is shorthand for a route's operation table.
type ops = map[logical.Operation]logical.Handler

var usernameDoc = logical.Field{Name: "username", InPath: true, Description: "The username: trimmed, NFKC-normalized and lower-cased, so \"Alice\" and \"alice\" are one user."}

var userDocs = logical.Fields{
	usernameDoc,
	{Name: "password", Description: "The user's password (required on create; at most 4096 bytes)."},
	{Name: "mfa_required", Type: logical.TypeBool, Description: "Require a TOTP code at every login (enroll with mfa/totp/generate).", Default: false},
	{Name: "bound_cidrs", Type: logical.TypeSlice, Description: "Deprecated name of token_bound_cidrs."},
}.With(tokenparams.FieldDocs...)

var passwordDocs = logical.Fields{
	usernameDoc,
	{Name: "password", Description: "The new password."},
}

var policiesDocs = logical.Fields{
	usernameDoc,
	{Name: "token_policies", Type: logical.TypeSlice, Description: "The user's new token policies."},
	{Name: "policies", Type: logical.TypeSlice, Description: "Deprecated name of token_policies."},
}

var loginDocs = logical.Fields{
	{Name: "username", InPath: true, Description: "The username; may be sent in the body instead, to auth/userpass/login."},
	{Name: "password", Description: "The user's password."},
	{Name: "totp", Description: "The current TOTP code, for a user who must pass TOTP."},
}

func (b *Backend) routes() []logical.Route {
	return []logical.Route{
		{
			Pattern:         "login/{username*}",
			Unauthenticated: true,
			Ops:             ops{logical.UpdateOperation: b.handleLogin},
			Synopsis:        "Log in with a username and password.",
			Description:     "Every failed login (unknown user, locked out, wrong password or code) answers the same error.",
			Fields:          loginDocs,
		},
		{
			Pattern:  "users",
			Ops:      ops{logical.ListOperation: b.listUsers},
			Synopsis: "List the users.",
		},
		{
			Pattern:  "config",
			Ops:      ops{logical.ReadOperation: b.readConfig, logical.UpdateOperation: b.writeConfig},
			Synopsis: "Read or set the mount's lockout and TOTP settings.",
			Fields:   configDocs,
		},
		{
			Pattern: "users/{username}",
			Ops: ops{
				logical.ReadOperation:   b.onUser(b.readUser),
				logical.UpdateOperation: b.onUser(b.writeUser),
				logical.DeleteOperation: b.onUser(b.deleteUser),
			},
			Exists:      b.userExists,
			Synopsis:    "Create, read, update or delete a user.",
			Description: "A read never returns the password hash or the TOTP key.",
			Fields:      userDocs,
		},
		{
			Pattern:  "users/{username}/password",
			Ops:      ops{logical.UpdateOperation: b.onExisting(b.setPassword)},
			Synopsis: "Change a user's password.",
			Fields:   passwordDocs,
		},
		{
			Pattern:  "users/{username}/policies",
			Ops:      ops{logical.UpdateOperation: b.onExisting(b.setPolicies)},
			Synopsis: "Change a user's token policies.",
			Fields:   policiesDocs,
		},
		{
			Pattern:  "users/{username}/unlock",
			Ops:      ops{logical.UpdateOperation: b.onExisting(b.unlockUser)},
			Synopsis: "Clear a user's lockout.",
			Fields:   logical.Fields{usernameDoc},
		},
		{
			Pattern:     "users/{username}/mfa/totp/generate",
			Ops:         ops{logical.UpdateOperation: b.onExisting(b.generateTOTP)},
			Synopsis:    "Enroll a new TOTP key for a user and return it once.",
			Description: "A user already enrolled must have the key deleted first (mfa/totp).",
			Fields:      logical.Fields{usernameDoc},
		},
		{
			Pattern:  "users/{username}/mfa/totp",
			Ops:      ops{logical.UpdateOperation: b.onExisting(b.deleteTOTP), logical.DeleteOperation: b.onExisting(b.deleteTOTP)},
			Synopsis: "Delete a user's TOTP key.",
			Fields:   logical.Fields{usernameDoc},
		},
	}
}

// handleLogin serves login and login/NAME (a trailing "/" ignored).
func (b *Backend) handleLogin(ctx context.Context, req *logical.Request, p logical.Params) (*logical.Response, error) {
	return b.login(ctx, req, strings.TrimSuffix(p["username"], "/"))
}
