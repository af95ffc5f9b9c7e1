package shamir

// Arithmetic in GF(2^8) with the reduction polynomial x^8+x^4+x^3+x+1 (0x11b).
// Every operation runs in time independent of its operands: no branches and
// no table lookups depend on the values, only masks and fixed-count loops.

// gfAdd returns a+b, which in characteristic 2 is also a-b.
func gfAdd(a, b byte) byte { return a ^ b }

// gfMul returns a*b by carry-less multiplication, reducing as it goes.
func gfMul(a, b byte) byte {
	var r byte
	for range 8 {
		// mask is 0xff when the low bit of b is set, else 0x00.
		mask := -(b & 1)
		r ^= a & mask
		b >>= 1
		// Multiply a by x; when the bit shifted out was set, reduce by 0x1b.
		carry := -(a >> 7)
		a = (a << 1) ^ (0x1b & carry)
	}
	return r
}

// gfInv returns the multiplicative inverse of a, computed as a^254 since
// a^255 = 1 for every non-zero a. gfInv(0) is 0, which callers never rely on.
func gfInv(a byte) byte {
	// 254 = 0b11111110: square-and-multiply with a fixed sequence of steps.
	a2 := gfMul(a, a)      // a^2
	a4 := gfMul(a2, a2)    // a^4
	a8 := gfMul(a4, a4)    // a^8
	a16 := gfMul(a8, a8)   // a^16
	a32 := gfMul(a16, a16) // a^32
	a64 := gfMul(a32, a32) // a^64
	a128 := gfMul(a64, a64)
	r := gfMul(a2, a4)    // a^6
	r = gfMul(r, a8)      // a^14
	r = gfMul(r, a16)     // a^30
	r = gfMul(r, a32)     // a^62
	r = gfMul(r, a64)     // a^126
	return gfMul(r, a128) // a^254
}
