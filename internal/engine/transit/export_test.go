package transit

import "time"

func testNow() time.Time { return time.Unix(1700000000, 0) }
