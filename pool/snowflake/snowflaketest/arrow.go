package snowflaketest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arrowRowset encodes rows (normalized values, see normalize) as the base64
// Arrow IPC stream of a query response's "rowsetBase64": one schema, one
// record batch. gosnowflake 1.19 decodes each column by the response's
// rowtype and the Arrow array's type (arrowToValue in its converter.go);
// the field metadata (logicalType, precision, scale, charLength,
// byteLength, physicalType) is what a real account adds for the other
// connectors, which read it from the schema instead.
//
// Physical types, per column:
//   - FIXED: the narrowest of Int8, Int16, Int32 and Int64 that holds every
//     scaled value of the column, as a real account chooses per batch;
//     Decimal128 when a value needs more than 64 bits.
//   - REAL: Float64. TEXT: String (UTF-8). BOOLEAN: Boolean. BINARY:
//     Binary. DATE: Date32, days since the epoch.
//   - TIMESTAMP_NTZ and _LTZ: Int64 in units of 10^-scale seconds up to
//     scale 7, and above it a struct of epoch (Int64 seconds) and fraction
//     (Int32 nanoseconds), since nanoseconds overflow an Int64 after 2262.
//   - TIMESTAMP_TZ: a struct of epoch (Int64, units of 10^-scale) and
//     timezone (Int32, the offset in minutes plus 1440) up to scale 3; a
//     struct of epoch (seconds), fraction (nanoseconds) and timezone above.
//
// The thresholds of scale (7 and 3) are what Snowflake's connectors are
// written to expect; that the server switches exactly there is an
// assumption.
func arrowRowset(cols []rowType, rows [][]any) (string, error) {
	mem := memory.NewGoAllocator()
	fields := make([]arrow.Field, len(cols))
	for i := range cols {
		f, err := arrowField(&cols[i], rows, i)
		if err != nil {
			return "", err
		}
		fields[i] = f
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range cols {
		if err := appendColumn(b.Field(i), &cols[i], rows, i); err != nil {
			return "", err
		}
	}
	rec := b.NewRecord()
	defer rec.Release()

	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if len(rows) > 0 {
		if err := w.Write(rec); err != nil {
			return "", fmt.Errorf("arrow: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("arrow: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// tsSplit reports whether a timestamp of this type and scale is a struct
// with a separate fraction field.
func tsSplit(rt *rowType) bool {
	if rt.Type == "timestamp_tz" {
		return rt.Scale > 3
	}
	return rt.Scale > 7
}

func arrowField(rt *rowType, rows [][]any, col int) (arrow.Field, error) {
	md := map[string]string{"logicalType": strings.ToUpper(rt.Type), "finalType": "T"}
	var typ arrow.DataType
	switch rt.Type {
	case "fixed":
		md["precision"] = strconv.FormatInt(rt.Precision, 10)
		md["scale"] = strconv.FormatInt(rt.Scale, 10)
		typ, md["physicalType"] = fixedArrowType(rt, rows, col)
	case "real":
		typ, md["physicalType"] = arrow.PrimitiveTypes.Float64, "DOUBLE"
	case "boolean":
		typ, md["physicalType"] = arrow.FixedWidthTypes.Boolean, "SB1"
	case "date":
		typ, md["physicalType"] = arrow.FixedWidthTypes.Date32, "SB4"
	case "timestamp_ntz", "timestamp_ltz", "timestamp_tz":
		md["scale"] = strconv.FormatInt(rt.Scale, 10)
		epoch := arrow.Field{Name: "epoch", Type: arrow.PrimitiveTypes.Int64}
		fraction := arrow.Field{Name: "fraction", Type: arrow.PrimitiveTypes.Int32}
		timezone := arrow.Field{Name: "timezone", Type: arrow.PrimitiveTypes.Int32}
		switch {
		case rt.Type == "timestamp_tz" && tsSplit(rt):
			typ = arrow.StructOf(epoch, fraction, timezone)
		case rt.Type == "timestamp_tz":
			typ = arrow.StructOf(epoch, timezone)
		case tsSplit(rt):
			typ = arrow.StructOf(epoch, fraction)
		default:
			typ = arrow.PrimitiveTypes.Int64
		}
		md["physicalType"] = "SB8"
		if typ.ID() == arrow.STRUCT {
			md["physicalType"] = "SB16"
		}
	case "binary":
		md["byteLength"] = strconv.FormatInt(rt.ByteLength, 10)
		md["charLength"] = strconv.FormatInt(rt.Length, 10)
		typ, md["physicalType"] = arrow.BinaryTypes.Binary, "BINARY"
	case "text":
		md["byteLength"] = strconv.FormatInt(rt.ByteLength, 10)
		md["charLength"] = strconv.FormatInt(rt.Length, 10)
		typ, md["physicalType"] = arrow.BinaryTypes.String, "LOB"
	default:
		return arrow.Field{}, fmt.Errorf("arrow: column %s: type %s is not served", rt.Name, rt.Type)
	}
	return arrow.Field{Name: rt.Name, Type: typ, Nullable: true, Metadata: arrow.MetadataFrom(md)}, nil
}

// fixedArrowType is the narrowest integer type that holds every value of
// the column, or Decimal128.
func fixedArrowType(rt *rowType, rows [][]any, col int) (arrow.DataType, string) {
	var lo, hi int64
	for _, row := range rows {
		switch x := row[col].(type) {
		case int64:
			lo, hi = min(lo, x), max(hi, x)
		case *big.Int:
			return &arrow.Decimal128Type{Precision: int32(max(rt.Precision, 1)), Scale: int32(rt.Scale)}, "SB16"
		}
	}
	switch {
	case lo >= math.MinInt8 && hi <= math.MaxInt8:
		return arrow.PrimitiveTypes.Int8, "SB1"
	case lo >= math.MinInt16 && hi <= math.MaxInt16:
		return arrow.PrimitiveTypes.Int16, "SB2"
	case lo >= math.MinInt32 && hi <= math.MaxInt32:
		return arrow.PrimitiveTypes.Int32, "SB4"
	}
	return arrow.PrimitiveTypes.Int64, "SB8"
}

// scaledUnits is t in units of 10^-scale seconds since the epoch.
func scaledUnits(t time.Time, scale int64) int64 {
	scale = min(max(scale, 0), 9)
	return t.Unix()*pow10[scale] + int64(t.Nanosecond())/pow10[9-scale]
}

func appendColumn(fb array.Builder, rt *rowType, rows [][]any, col int) error {
	for _, row := range rows {
		v := row[col]
		if v == nil {
			fb.AppendNull()
			continue
		}
		switch b := fb.(type) {
		case *array.Int8Builder:
			b.Append(int8(v.(int64)))
		case *array.Int16Builder:
			b.Append(int16(v.(int64)))
		case *array.Int32Builder:
			b.Append(int32(v.(int64)))
		case *array.Int64Builder:
			if t, ok := v.(time.Time); ok {
				b.Append(scaledUnits(t, rt.Scale))
			} else {
				b.Append(v.(int64))
			}
		case *array.Decimal128Builder:
			switch x := v.(type) {
			case int64:
				b.Append(decimal128.FromI64(x))
			case *big.Int:
				if x.BitLen() > 126 {
					return fmt.Errorf("arrow: column %s: %s does not fit NUMBER(38)", rt.Name, x)
				}
				b.Append(decimal128.FromBigInt(x))
			}
		case *array.Float64Builder:
			b.Append(v.(float64))
		case *array.BooleanBuilder:
			b.Append(v.(bool))
		case *array.Date32Builder:
			b.Append(arrow.Date32(v.(time.Time).Unix() / 86400))
		case *array.StringBuilder:
			b.Append(v.(string))
		case *array.BinaryBuilder:
			b.Append(v.([]byte))
		case *array.StructBuilder:
			t := v.(time.Time)
			b.Append(true)
			i := 0
			if tsSplit(rt) {
				b.FieldBuilder(0).(*array.Int64Builder).Append(t.Unix())
				b.FieldBuilder(1).(*array.Int32Builder).Append(int32(t.Nanosecond()))
				i = 2
			} else {
				b.FieldBuilder(0).(*array.Int64Builder).Append(scaledUnits(t, rt.Scale))
				i = 1
			}
			if rt.Type == "timestamp_tz" {
				_, off := t.Zone()
				b.FieldBuilder(i).(*array.Int32Builder).Append(int32(off/60 + 1440))
			}
		default:
			return fmt.Errorf("arrow: column %s: no encoder for %T", rt.Name, fb)
		}
	}
	return nil
}
