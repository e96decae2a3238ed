#include "textflag.h"

// func prefetch(p unsafe.Pointer)
TEXT ·prefetch(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	PREFETCHT0 (AX)
	RET

// func loadCellEntry(c *cell) uint32
TEXT ·loadCellEntry(SB), NOSPLIT, $0-12
	MOVQ c+0(FP), AX
	MOVL 4(AX), BX
	MOVL BX, ret+8(FP)
	RET
