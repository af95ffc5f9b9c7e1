package scan

// knownTestKeys are keys published as test material by standard libraries
// and emulators, by keyFingerprint: every private key in Go 1.26's
// $GOROOT/src (including those it spells "TESTING KEY" to keep scanners
// quiet, which people copy back with the real armour), every one in
// CPython 3.13's Lib/test/certdata, and the Azure storage emulator's
// documented account key. Anyone may read them, so a copy is test material
// wherever it is found. Only fingerprints are kept here.
var knownTestKeys = map[string]string{
	"a96ae55c3eb636e229c9b1316a8f8e6f": "CPython Lib/test/certdata/allsans.pem",
	"c21f5fc525cdcd86c3750fd4c5b5dfb8": "CPython Lib/test/certdata/badcert.pem",
	"bc3371c0e65c2043fe87aaa3e3206800": "CPython Lib/test/certdata/idnsans.pem",
	"4b9318410f6452e09486a93864d84062": "CPython Lib/test/certdata/keycert.passwd.pem",
	"0da9a6b48d49589fcd21becbe1e7e3e1": "CPython Lib/test/certdata/keycert.pem",
	"e7a5499cb6a1ca12f1d9611ba7dbdfbf": "CPython Lib/test/certdata/keycert2.pem",
	"2c3b966d59bb45e7063082bf51e21aad": "CPython Lib/test/certdata/keycert3.pem",
	"90d9defb52211de3f8b8747529251c1e": "CPython Lib/test/certdata/keycert4.pem",
	"8f2d880a4627800c253037a4c94be454": "CPython Lib/test/certdata/keycertecc.pem",
	"720e7aff8f2c546c2c710586f9c7df91": "CPython Lib/test/certdata/leaf-missing-aki.keycert.pem",
	"267d1f6f1552f163e8664e2c46d23cce": "CPython Lib/test/certdata/nosan.pem",
	"a5bcec4ac345315fc7297c539eacf666": "CPython Lib/test/certdata/pycakey.pem",
	"362633791ff8eaa82947c5a1ac39f316": "CPython Lib/test/certdata/ssl_key.passwd.pem",
	"dd2839ea906d948237348cefbb5fe595": "Go crypto/crypto_test.go (TESTING KEY)",
	"8de73d3e700ad3797ac4ae7e72e30e22": "Go crypto/internal/fips140only/fips140only_test.go (TESTING KEY)",
	"036bc20042b2cb2d31f4513747d68a98": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"2d18c933f5059b0ad73d1e887e6a9686": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"3f6c88e707c99360a5cdbf225d8dea00": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"4c0e2a73cf7d3c9a7610c5597f016dab": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"71b686e816418547ae4c41b894ed7529": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"8cecdefd466e3cb9342f6f32e8094613": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"993c1a6ec519eeb502bfd478531eb6fa": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"a28f2d6e8733add0da057ff1f8b0063e": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"b28a0e96e97b4d4427002f8c8a3e97d8": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"c8b114cd29f417414f858941d5cd5bf3": "Go crypto/rsa/rsa_test.go (TESTING KEY)",
	"d63cfe7d0783ea1dde58d51f2c76880a": "Go crypto/tls/example_test.go",
	"411c04efc1020e1cfd226bff2817bf79": "Go crypto/tls/handshake_server_test.go (TESTING KEY)",
	"08c6467b86fc6afb31ee3d01f6c2ffc3": "Go crypto/tls/handshake_test.go (TESTING KEY)",
	"2e23962e2769045131642fe986df5aa5": "Go crypto/tls/handshake_test.go (TESTING KEY)",
	"552b986839f516015de5e54c4d50d0cd": "Go crypto/tls/handshake_test.go (TESTING KEY)",
	"4d2a128c0662d1780c76437cc646e3f3": "Go crypto/tls/tls_test.go (TESTING KEY)",
	"8a1785ccf9aa0ec1a5137638017a50e2": "Go crypto/tls/tls_test.go (TESTING KEY)",
	"25804bfea232728e6e1cbcf46db1063a": "Go crypto/x509/pem_decrypt_test.go (TESTING KEY)",
	"39e241959ab5aeb2cdd0a6964a75d63a": "Go crypto/x509/pem_decrypt_test.go (TESTING KEY)",
	"5485881b6bb6f6e3c3d5fd46ad3e6ee6": "Go crypto/x509/pem_decrypt_test.go (TESTING KEY)",
	"96c5712de7335adf22947b0f080988d4": "Go crypto/x509/pem_decrypt_test.go (TESTING KEY)",
	"b13259c7013f2913a5a6129f8df07149": "Go crypto/x509/pem_decrypt_test.go (TESTING KEY)",
	"e6865c52ccf4a39730efb5ffb89e514a": "Go crypto/x509/pem_decrypt_test.go (TESTING KEY)",
	"ee150a33b379657eea18055ff239a583": "Go crypto/x509/pem_decrypt_test.go (TESTING KEY)",
	"defcda422e024b4513efbde41edd2a11": "Go crypto/x509/platform_root_key.pem",
	"044460fa36109449e0202ec969d46ccb": "Go crypto/x509/x509_test.go (TESTING KEY)",
	"912bc2f14e1b032825837c93d745ed40": "Go encoding/pem/pem_test.go (TESTING KEY)",
	"be1494e818594d49c996fd80c69adb06": "Go encoding/pem/pem_test.go (TESTING KEY)",
	"cb09f046e54aa7184ee42b82fff7650d": "Go net/http/internal/testcert/testcert.go (TESTING KEY)",
	"ddd561969028c59d7117e097e67359a9": "Go net/smtp/smtp_test.go (TESTING KEY)",
	"0011cc25eb4320717494d2703e8cba85": "Azurite (Azure storage emulator) devstoreaccount1",
}
