package mask_test

import (
	"encoding/base64"
	"fmt"
	"os"

	"github.com/keyward/keyward/internal/mask"
)

func ExampleNewWriter() {
	secrets := []mask.Secret{{Name: "DB_PASS", Value: "s3cr3t-Pa55"}}
	if err := mask.Check(secrets); err != nil {
		fmt.Println(err)
		return
	}
	w := mask.NewWriter(os.Stdout, secrets, mask.Options{Style: mask.StyleName})
	fmt.Fprintln(w, "connecting with s3cr3t-Pa55")
	fmt.Fprintln(w, "encoded:", base64.StdEncoding.EncodeToString([]byte("s3cr3t-Pa55")))
	fmt.Fprint(w, "split: s3cr3t-") // a value split across writes is still caught
	fmt.Fprintln(w, "Pa55")
	w.Close()
	// Output:
	// connecting with [DB_PASS]
	// encoded: [DB_PASS]
	// split: [DB_PASS]
}

func ExampleCheck() {
	err := mask.Check([]mask.Secret{{Name: "PIN", Value: "1234"}})
	fmt.Println(err)
	// Output:
	// mask: 1 secret value(s) shorter than 6 bytes: PIN
}
