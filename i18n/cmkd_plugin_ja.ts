<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="ja">
  <context>
    <name>AdaptSiteAlgorithm</name>
    <message>
      <source>Accuracy at the points after adapting</source>
      <translation>適応後の地点での精度</translation>
    </message>
    <message>
      <source>Accuracy at the points before adapting</source>
      <translation>適応前の地点での精度</translation>
    </message>
    <message>
      <source>Adapt model to a new site</source>
      <translation>モデルを新しいサイトに適応</translation>
    </message>
    <message>
      <source>Fine-tunes a student (or teacher) model with a handful of labelled points from a new site, e.g. another illumination, camera or sensor noise. The class field must hold class names the model knows (see its model card); labels of other classes are refused with the list of the model's classes. HSI and DEM are needed only if the model is a teacher that uses them.

Guards against forgetting: the encoder stays frozen (FREEZE), and a keep term (KEEP_WEIGHT × KL divergence to the original model over every pixel of the new scene) holds predictions away from the points close to the original model's. Optionally the input normalisation is first re-estimated from the new scene (RENORMALISE), which absorbs illumination and gain differences.

With 10–20 points nothing is held out: the report gives the accuracy at the points before and after, the points per class, and the share of the scene whose class changed. The new model card records that the model was adapted, from which file and with which inputs.</source>
      <translation>新しいサイト（別の照明、カメラ、センサーノイズなど）のわずかなラベル付き地点で、生徒（または教師）モデルを微調整します。クラスフィールドにはモデルが知っているクラス名（モデルカード参照）が必要です。それ以外のクラスのラベルは、モデルのクラス一覧とともに拒否されます。HSI と DEM は、それらを使う教師モデルの場合にのみ必要です。

忘却への対策: エンコーダーは固定され（FREEZE）、保持項（KEEP_WEIGHT × 新しいシーンの全画素での元のモデルとの KL ダイバージェンス）が、地点から離れた予測を元のモデルに近く保ちます。オプションで、まず新しいシーンから入力の正規化を再推定し（RENORMALISE）、照明やゲインの違いを吸収します。

10〜20 地点では検証用に取り分けるものはありません。レポートには、適応前後の地点での精度、クラスごとの地点数、クラスが変わったシーンの割合が示されます。新しいモデルカードには、適応されたこと、元のファイル、使用した入力が記録されます。</translation>
    </message>
    <message>
      <source>Frozen layers (encoder, features = all but the classifier, none)</source>
      <translation>固定する層（encoder、features = 分類器以外すべて、none）</translation>
    </message>
    <message>
      <source>Keep weight (stay close to the original model; 0 = off)</source>
      <translation>保持の重み（元のモデルに近づける。0 = オフ）</translation>
    </message>
    <message>
      <source>Model file to adapt (student or teacher)</source>
      <translation>適応するモデルファイル（生徒または教師）</translation>
    </message>
    <message>
      <source>Re-estimate input normalisation on the new scene</source>
      <translation>新しいシーンで入力の正規化を再推定</translation>
    </message>
    <message>
      <source>Share of the scene whose class changed</source>
      <translation>クラスが変わったシーンの割合</translation>
    </message>
  </context>
  <context>
    <name>ApplySidecarStyle</name>
    <message>
      <source>Could not apply the style {}: {}</source>
      <translation>スタイル {} を適用できませんでした: {}</translation>
    </message>
  </context>
  <context>
    <name>BundledModel</name>
    <message>
      <source>Full survey workflow (simulate → train → distil → classify → carbonation)</source>
      <translation>調査ワークフロー全体（シミュレーション → 学習 → 蒸留 → 分類 → 炭酸塩化）</translation>
    </message>
    <message>
      <source>Workflows</source>
      <translation>ワークフロー</translation>
    </message>
  </context>
  <context>
    <name>CarbonationAlgorithm</name>
    <message>
      <source>Carbonation rate (t CO2/ha/yr)</source>
      <translation>炭酸塩化速度（t CO2/ha/年）</translation>
    </message>
    <message>
      <source>Carbonation rate and site CO2 uptake</source>
      <translation>炭酸塩化速度とサイト別 CO2 吸収量</translation>
    </message>
    <message>
      <source>Carbonation rate uncertainty (t CO2/ha/yr)</source>
      <translation>炭酸塩化速度の不確かさ（t CO2/ha/年）</translation>
    </message>
    <message>
      <source>Class probabilities (from Classify minerals)</source>
      <translation>クラス確率（「鉱物を分類」の出力）</translation>
    </message>
    <message>
      <source>Classes without a coefficient</source>
      <translation>係数のないクラス</translation>
    </message>
    <message>
      <source>Coefficient table (CSV; empty = the shipped table)</source>
      <translation>係数表（CSV、空欄 = 同梱の表）</translation>
    </message>
    <message>
      <source>Scale to t CO2/ha/yr (empty = the documented default)</source>
      <translation>t CO2/ha/年 への換算係数（空欄 = 文書化された既定値）</translation>
    </message>
    <message>
      <source>Site CO2 uptake</source>
      <translation>サイト別 CO2 吸収量</translation>
    </message>
    <message>
      <source>Site id field</source>
      <translation>サイト ID フィールド</translation>
    </message>
    <message>
      <source>Sites (polygons)</source>
      <translation>サイト（ポリゴン）</translation>
    </message>
    <message>
      <source>Total uptake (t CO2/yr): over the sites, or the whole raster without sites</source>
      <translation>総吸収量（t CO2/年）：サイトの合計、サイトがなければラスタ全体</translation>
    </message>
    <message>
      <source>Turns mineral probabilities (from 'Classify minerals') into a carbonation-rate layer in t CO2 per hectare per year: rate = SCALE × Σ p(class) × coefficient(class), with an uncertainty layer (the spread of the coefficient under the class probabilities).

Coefficients come from a CSV table (class, coefficient, unit, source); the shipped table holds the relative coefficients of the method (olivine 0.85, wollastonite 0.92, serpentine 0.45, basalt 0.28; carbonate products, vegetation, water 0) with literature CO2 capacities for reference and sources for each. Class names are matched without regard to case; classes missing on either side are listed in the log.

With site polygons, each site gets its area (ha), valid-pixel fraction, mean rate, total uptake (t CO2/yr) and its uncertainty, and the dominant mineral with its share; pixels on site borders count by the fraction of their area inside the site, and pixel areas are exact in the raster's CRS (ellipsoidal for geographic CRS). The methods note (resources/carbonation/METHODS.md) gives every formula and source.</source>
      <translation>鉱物の確率（「鉱物を分類」の出力）を、ヘクタール・年あたりの t CO2 で表した炭酸塩化速度レイヤに変換します：速度 = SCALE × Σ p(クラス) × 係数(クラス)。あわせて不確かさレイヤ（クラス確率のもとでの係数のばらつき）を出力します。

係数は CSV 表（class, coefficient, unit, source）から読み込みます。同梱の表には本手法の相対係数（かんらん石 0.85、珪灰石 0.92、蛇紋石 0.45、玄武岩 0.28、炭酸塩生成物・植生・水は 0）と、参考としての文献上の CO2 吸収容量、それぞれの出典が含まれます。クラス名は大文字と小文字を区別せずに照合し、どちらか一方にしかないクラスはログに列挙します。

サイトのポリゴンを指定すると、各サイトについて面積（ha）、有効ピクセルの割合、平均速度、総吸収量（t CO2/年）とその不確かさ、優占鉱物とその割合を求めます。サイト境界上のピクセルはサイト内に含まれる面積の割合で数え、ピクセル面積はラスタの座標参照系で正確に計算します（地理座標系では楕円体上で計算）。すべての式と出典は手法ノート（resources/carbonation/METHODS.md）にあります。</translation>
    </message>
  </context>
  <context>
    <name>ClassifyAlgorithm</name>
    <message>
      <source>CMKD or ONNX models (*.cmkd *.safetensors *.onnx)</source>
      <translation>CMKD または ONNX モデル (*.cmkd *.safetensors *.onnx)</translation>
    </message>
    <message>
      <source>Class names</source>
      <translation>クラス名</translation>
    </message>
    <message>
      <source>Class probabilities</source>
      <translation>クラス確率</translation>
    </message>
    <message>
      <source>Classify minerals</source>
      <translation>鉱物を分類</translation>
    </message>
    <message>
      <source>Confidence</source>
      <translation>信頼度</translation>
    </message>
    <message>
      <source>Dask scheduler address (e.g. tcp://host:8786; empty: this computer)</source>
      <translation>Dask スケジューラのアドレス（例：tcp://host:8786、空欄：このコンピュータ）</translation>
    </message>
    <message>
      <source>Device</source>
      <translation>デバイス</translation>
    </message>
    <message>
      <source>Maps minerals with a CMKD model (the RGB student, or the teacher where hyperspectral and DEM data exist) over rasters of any size, tile by tile, streaming the results to disk so memory does not grow with the raster.

The model card says which inputs are needed. HSI and DEM are aligned on the fly to the RGB grid whatever their CRS, resolution or extent; HSI bands are matched to the model's wavelengths (read from ENVI headers, GeoTIFF band metadata or band names). Input scaling (8/16-bit RGB, reflectance ×10000 or 0–1) is detected.

Tiles overlap and are stitched without seams. Nodata in any required input gives nodata in every output. EXTENT and MASK limit the processing area.

A teacher sees the minerals through its hyperspectral pixels (e.g. 2 m); its probabilities are refined by the RGB inside each of them so that the map follows the RGB's edges (an edge-aware guided filter). The advanced parameter 'Refine the map by the RGB' says for which models: teacher (default), all (students too: an edge-aware smoothing over one teacher pixel, which made the simulator's student maps 2–5 points better but costs time) or none. Such a teacher runs on its own grid, as in training, and its map is upsampled to the RGB's (Teacher grid own, the default); with 'rgb' it runs on every RGB pixel instead, 10–40 times slower on the simulator and no more accurate.

Outputs: classes (colour table and class names, loaded with a legend), probabilities (one band per class, named after it; input of 'Carbonation rate'), confidence (band 1 maximum probability, band 2 normalised entropy).</source>
      <translation>CMKD モデル（RGB 生徒モデル、またはハイパースペクトルと DEM があれば教師モデル）で、任意の大きさのラスタの鉱物をタイルごとにマッピングします。結果は逐次ディスクに書き出すため、ラスタが大きくてもメモリ使用量は増えません。

必要な入力はモデルカードに記載されています。HSI と DEM は、座標参照系・解像度・範囲にかかわらず、その場で RGB のグリッドに合わせます。HSI のバンドはモデルの波長に合わせて変換します（波長は ENVI ヘッダ、GeoTIFF のバンドメタデータ、またはバンド名から読み取ります）。入力のスケール（8/16 ビット RGB、反射率 ×10000 または 0–1）は自動検出します。

タイルは重ねて処理し、継ぎ目なく結合します。必要な入力のいずれかが nodata の場所は、すべての出力で nodata になります。EXTENT と MASK で処理範囲を限定できます。

教師モデルは鉱物をハイパースペクトルの画素（例：2 m）を通して見ます。その確率を各画素の内側で RGB によって補正し、地図が RGB のエッジに沿うようにします（エッジ保存型のガイデッドフィルタ）。詳細パラメータ「RGB による地図の補正」で対象のモデルを選びます：teacher（既定、教師モデルのみ）、all（生徒モデルも：教師の 1 画素の範囲でのエッジ保存型平滑化。シミュレータでは生徒モデルの地図が 2–5 ポイント向上しましたが、時間がかかります）、none（補正なし）。このような教師モデルは学習時と同じく自身のグリッドで実行し、その地図を RGB のグリッドへアップサンプリングします（教師モデルのグリッド：own、既定）。rgb を選ぶと RGB の全画素で実行します。シミュレータでは 10–40 倍遅く、精度は向上しませんでした。

出力：クラス（カラーテーブルとクラス名付き、凡例つきで読み込まれます）、確率（クラスごとに 1 バンド、バンド名はクラス名。「炭酸塩化速度」の入力）、信頼度（バンド 1：最大確率、バンド 2：正規化エントロピー）。</translation>
    </message>
    <message>
      <source>Maps minerals with a CMKD model (the RGB student, or the teacher where hyperspectral and DEM data exist) over rasters of any size, tile by tile, streaming the results to disk so memory does not grow with the raster.

The model card says which inputs are needed. HSI and DEM are aligned on the fly to the RGB grid whatever their CRS, resolution or extent; HSI bands are matched to the model's wavelengths (read from ENVI headers, GeoTIFF band metadata or band names). Input scaling (8/16-bit RGB, reflectance ×10000 or 0–1) is detected.

Tiles overlap and are stitched without seams. Nodata in any required input gives nodata in every output. EXTENT and MASK limit the processing area.

Outputs: classes (colour table and class names, loaded with a legend), probabilities (one band per class, named after it; input of 'Carbonation rate'), confidence (band 1 maximum probability, band 2 normalised entropy).</source>
      <translation type="obsolete">CMKD モデル（RGB 生徒モデル、またはハイパースペクトルと DEM があれば教師モデル）で、任意の大きさのラスタの鉱物をタイルごとにマッピングします。結果は逐次ディスクに書き出すため、ラスタが大きくてもメモリ使用量は増えません。

必要な入力はモデルカードに記載されています。HSI と DEM は、座標参照系・解像度・範囲にかかわらず、その場で RGB のグリッドに合わせます。HSI のバンドはモデルの波長に合わせて変換します（波長は ENVI ヘッダ、GeoTIFF のバンドメタデータ、またはバンド名から読み取ります）。入力のスケール（8/16 ビット RGB、反射率 ×10000 または 0–1）は自動検出します。

タイルは重ねて処理し、継ぎ目なく結合します。必要な入力のいずれかが nodata の場所は、すべての出力で nodata になります。EXTENT と MASK で処理範囲を限定できます。

出力：クラス（カラーテーブルとクラス名付き、凡例つきで読み込まれます）、確率（クラスごとに 1 バンド、バンド名はクラス名。「炭酸塩化速度」の入力）、信頼度（バンド 1：最大確率、バンド 2：正規化エントロピー）。</translation>
    </message>
    <message>
      <source>Mineral classes</source>
      <translation>鉱物クラス</translation>
    </message>
    <message>
      <source>Model file (default: the bundled RGB student)</source>
      <translation>モデルファイル（既定：同梱の RGB 生徒モデル）</translation>
    </message>
    <message>
      <source>Model kind</source>
      <translation>モデルの種類</translation>
    </message>
    <message>
      <source>No model file given and no bundled model is installed; train one with 'Train teacher' and 'Distil RGB student'.</source>
      <translation>モデルファイルが指定されておらず、同梱モデルもインストールされていません。「教師モデルを学習」と「RGB 生徒モデルを蒸留」で学習してください。</translation>
    </message>
    <message>
      <source>Pixels classified</source>
      <translation>分類したピクセル数</translation>
    </message>
    <message>
      <source>Processing extent</source>
      <translation>処理範囲</translation>
    </message>
    <message>
      <source>Processing mask (polygons)</source>
      <translation>処理マスク（ポリゴン）</translation>
    </message>
    <message>
      <source>Refine the map by the RGB (teacher, all, none)</source>
      <translation>RGB による地図の補正（teacher、all、none）</translation>
    </message>
    <message>
      <source>Seconds spent classifying (read, infer, stitch, write)</source>
      <translation>分類に要した秒数（読み込み・推論・結合・書き込み）</translation>
    </message>
    <message>
      <source>Teacher grid (own: its training grid; rgb: every RGB pixel, slower)</source>
      <translation>教師モデルのグリッド（own：学習時のグリッド／rgb：RGB の全画素、低速）</translation>
    </message>
    <message>
      <source>Tile overlap (pixels)</source>
      <translation>タイルの重なり（ピクセル）</translation>
    </message>
    <message>
      <source>Tile size (pixels)</source>
      <translation>タイルサイズ（ピクセル）</translation>
    </message>
    <message>
      <source>Tiles per batch</source>
      <translation>バッチあたりのタイル数</translation>
    </message>
  </context>
  <context>
    <name>CmkdAlgorithm</name>
    <message>
      <source>Carbon</source>
      <translation>炭素</translation>
    </message>
    <message>
      <source>Diagnostics</source>
      <translation>診断</translation>
    </message>
    <message>
      <source>Elevation model (DEM, metres)</source>
      <translation>標高モデル（DEM、メートル）</translation>
    </message>
    <message>
      <source>Hyperspectral image (HSI, with band wavelengths)</source>
      <translation>ハイパースペクトル画像（HSI、バンド波長付き）</translation>
    </message>
    <message>
      <source>Mapping</source>
      <translation>マッピング</translation>
    </message>
    <message>
      <source>RGB image (3 bands, or RGB + alpha)</source>
      <translation>RGB 画像（3 バンド、または RGB + アルファ）</translation>
    </message>
    <message>
      <source>Survey data</source>
      <translation>調査データ</translation>
    </message>
    <message>
      <source>Training</source>
      <translation>学習</translation>
    </message>
    <message>
      <source>{} must be a raster file on disk (got '{}'); save it as GeoTIFF first.</source>
      <translation>{} はディスク上のラスタファイルである必要があります（指定：'{}'）。先に GeoTIFF として保存してください。</translation>
    </message>
  </context>
  <context>
    <name>CmkdProvider</name>
    <message>
      <source>CMKD Survey</source>
      <translation>CMKD Survey</translation>
    </message>
    <message>
      <source>CMKD Survey {} (cross-modal knowledge distillation for minerals)</source>
      <translation>CMKD Survey {}（鉱物のためのクロスモーダル知識蒸留）</translation>
    </message>
    <message>
      <source>Engine Python (interpreter with torch and rasterio; empty = automatic)</source>
      <translation>エンジン Python（torch と rasterio を含むインタプリタ、空欄 = 自動）</translation>
    </message>
  </context>
  <context>
    <name>CmkdRunner</name>
    <message>
      <source> (and {})</source>
      <translation>（および {}）</translation>
    </message>
    <message>
      <source>The CMKD engine is not set up yet (python3 on PATH, '{}', lacks the package {}): run "Set up engine" ({}) from the CMKD Survey menu or the Processing Toolbox.</source>
      <translation>CMKD エンジンはまだセットアップされていません（PATH 上の python3 '{}' にパッケージ {} がありません）。CMKD Survey メニューまたはプロセシングツールボックスから「エンジンをセットアップ」（{}）を実行してください。</translation>
    </message>
    <message>
      <source>The CMKD engine is not set up yet: run "Set up engine" ({}) from the CMKD Survey menu or the Processing Toolbox.</source>
      <translation>CMKD エンジンはまだセットアップされていません。CMKD Survey メニューまたはプロセシングツールボックスから「エンジンをセットアップ」（{}）を実行してください。</translation>
    </message>
    <message>
      <source>The engine Python '{}' (taken from {}) cannot run the CMKD engine (details in the log above): run "Set up engine" ({}) to repair it.</source>
      <translation>エンジン Python '{}'（{} から取得）では CMKD エンジンを実行できません（詳細は上のログを参照）。「エンジンをセットアップ」（{}）を実行して修復してください。</translation>
    </message>
    <message>
      <source>The engine Python '{}' (taken from {}) does not exist: run "Set up engine" ({}) to install the engine, or correct that setting.</source>
      <translation>エンジン Python '{}'（{} から取得）が存在しません。「エンジンをセットアップ」（{}）を実行してエンジンをインストールするか、その設定を修正してください。</translation>
    </message>
    <message>
      <source>The engine Python '{}' (taken from {}) does not run: run "Set up engine" ({}) to repair the engine.</source>
      <translation>エンジン Python '{}'（{} から取得）が起動しません。「エンジンをセットアップ」（{}）を実行してエンジンを修復してください。</translation>
    </message>
    <message>
      <source>The engine Python '{}' (taken from {}) lacks the package {}: run "Set up engine" ({}) to repair the engine, or install its requirements yourself with {}.</source>
      <translation>エンジン Python '{}'（{} から取得）にパッケージ {} がありません。「エンジンをセットアップ」（{}）を実行してエンジンを修復するか、{} で必要なパッケージをご自身でインストールしてください。</translation>
    </message>
  </context>
  <context>
    <name>DistillStudentAlgorithm</name>
    <message>
      <source>Accuracy retention (student / teacher)</source>
      <translation>精度保持率（生徒 / 教師）</translation>
    </message>
    <message>
      <source>Class-balanced weighting (rare minerals weigh more)</source>
      <translation>クラスバランス重み付け（希少な鉱物ほど重く）</translation>
    </message>
    <message>
      <source>Colour jitter (robust to another colour balance, less accurate on this one)</source>
      <translation>色ジッター（別の色バランスに強くなるが、この色バランスでは精度が下がる）</translation>
    </message>
    <message>
      <source>Distil RGB student</source>
      <translation>RGB 生徒モデルを蒸留</translation>
    </message>
    <message>
      <source>Distils a trained teacher into a small RGB-only student that maps minerals wherever RGB imagery exists. The transfer set is every pixel where the teacher's inputs exist, labelled or not.

Loss = T² · KL(teacher ‖ student at temperature T) + feature weight · (1 − cosine of student and teacher features) (+ cross-entropy on labels, if given). T is annealed from the start to the end temperature over the epochs. Class-balanced weighting makes rare minerals weigh more. Progressive distillation goes HSI → simulated multispectral → RGB through an intermediate teacher. Colour jitter (off by default) trains on randomly re-balanced colours: the student then copes better with imagery of another colour balance (another camera, sun or flight) but is less accurate on imagery like its own, because minerals differ in RGB by small colour shifts.

The report compares teacher, student and an RGB-only baseline (the student trained on the labels alone with the same budget): overall accuracy, kappa, macro-F1, per-class F1, accuracy retention, distillation gain, parameters, FLOPs per pixel and CPU speed.</source>
      <translation>学習済みの教師モデルを、RGB 画像があればどこでも鉱物をマッピングできる小さな RGB 専用の生徒モデルに蒸留します。転移用データは、ラベルの有無にかかわらず、教師モデルの入力がそろうすべてのピクセルです。

損失 = T² · KL(教師 ‖ 温度 T での生徒) + 特徴の重み · (1 − 生徒と教師の特徴のコサイン類似度)（ラベルがあればさらに交差エントロピー）。T はエポックを通じて開始温度から終了温度へ徐々に下げます。クラスバランス重み付けにより希少な鉱物ほど重く扱います。段階的蒸留では、中間の教師を介して HSI → 模擬マルチスペクトル → RGB の順に蒸留します。色ジッター（既定ではオフ）は、色バランスをランダムに変えた画像で学習します。生徒モデルは別の色バランス（別のカメラ、太陽高度、フライト）の画像に強くなりますが、鉱物の RGB での違いはわずかな色の差なので、学習時と同じような画像では精度が下がります。

レポートでは、教師モデル、生徒モデル、RGB のみのベースライン（同じ学習量でラベルだけから学習した生徒モデル）を比較します：全体精度、カッパ係数、マクロ F1、クラスごとの F1、精度保持率、蒸留による向上、パラメータ数、ピクセルあたりの FLOPs、CPU での速度。</translation>
    </message>
    <message>
      <source>Feature alignment weight</source>
      <translation>特徴整合の重み</translation>
    </message>
    <message>
      <source>Label cross-entropy weight (0 = distil from the teacher only)</source>
      <translation>ラベル交差エントロピーの重み（0 = 教師モデルからの蒸留のみ）</translation>
    </message>
    <message>
      <source>Progressive chain HSI → multispectral → RGB</source>
      <translation>段階的蒸留 HSI → マルチスペクトル → RGB</translation>
    </message>
    <message>
      <source>RGB-only baseline overall accuracy</source>
      <translation>RGB のみのベースラインの全体精度</translation>
    </message>
    <message>
      <source>Student conv layers (more: more accurate, slower to train and to map)</source>
      <translation>生徒モデルの畳み込み層の数（多いほど高精度、学習と地図作成は遅くなる）</translation>
    </message>
    <message>
      <source>Student overall accuracy</source>
      <translation>生徒モデルの全体精度</translation>
    </message>
    <message>
      <source>Teacher model file</source>
      <translation>教師モデルファイル</translation>
    </message>
    <message>
      <source>Teacher overall accuracy</source>
      <translation>教師モデルの全体精度</translation>
    </message>
    <message>
      <source>Teacher targets inside its coarser pixels (logits, probabilities = interpolated; guided = probabilities following the RGB's edges)</source>
      <translation>教師モデルの粗いピクセル内の目標（logits・probabilities = 補間、guided = RGB のエッジに沿った確率）</translation>
    </message>
    <message>
      <source>Temperature at the end</source>
      <translation>終了時の温度</translation>
    </message>
    <message>
      <source>Temperature at the start</source>
      <translation>開始時の温度</translation>
    </message>
  </context>
  <context>
    <name>EngineCheckAlgorithm</name>
    <message>
      <source>CUDA available</source>
      <translation>CUDA 利用可能</translation>
    </message>
    <message>
      <source>Check engine</source>
      <translation>エンジンを確認</translation>
    </message>
    <message>
      <source>Engine Python</source>
      <translation>エンジン Python</translation>
    </message>
    <message>
      <source>Engine report</source>
      <translation>エンジンレポート</translation>
    </message>
    <message>
      <source>Forward pass throughput (Mpx/s)</source>
      <translation>順伝播のスループット（Mpx/秒）</translation>
    </message>
    <message>
      <source>GDAL version</source>
      <translation>GDAL のバージョン</translation>
    </message>
    <message>
      <source>HTML files (*.html);;JSON files (*.json)</source>
      <translation>HTML ファイル (*.html);;JSON ファイル (*.json)</translation>
    </message>
    <message>
      <source>Probe tile size (pixels)</source>
      <translation>テスト用タイルサイズ（ピクセル）</translation>
    </message>
    <message>
      <source>Runs the CMKD engine in its own Python interpreter and reports what it finds: the interpreter, the versions of torch, rasterio, GDAL, geopandas and numpy, the number of torch threads, whether a CUDA GPU is available (and its name), and the time of a small forward pass on one RGB tile (milliseconds, megapixels per second).

Run it first after installing, and whenever another algorithm says the engine is missing or broken. The engine interpreter is set in Processing &gt; Options &gt; Providers &gt; CMKD Survey &gt; Engine Python (or the CMKD_ENGINE_PYTHON environment variable).

Output: an HTML report (or JSON, if the file name ends in .json).</source>
      <translation>CMKD エンジンを専用の Python インタプリタで実行し、検出した内容を報告します：インタプリタ、torch・rasterio・GDAL・geopandas・numpy のバージョン、torch のスレッド数、CUDA GPU の有無（とその名前）、RGB タイル 1 枚に対する小さな順伝播の所要時間（ミリ秒、メガピクセル/秒）。

インストール後に最初に実行し、また他のアルゴリズムがエンジンの欠落や不具合を報告したときにも実行してください。エンジンのインタプリタは プロセシング &gt; オプション &gt; プロバイダ &gt; CMKD Survey &gt; エンジン Python（または環境変数 CMKD_ENGINE_PYTHON）で設定します。

出力：HTML レポート（ファイル名が .json で終わる場合は JSON）。</translation>
    </message>
    <message>
      <source>Timed forward passes</source>
      <translation>計測する順伝播の回数</translation>
    </message>
    <message>
      <source>torch version</source>
      <translation>torch のバージョン</translation>
    </message>
  </context>
  <context>
    <name>EvaluateAlgorithm</name>
    <message>
      <source>Accuracy report</source>
      <translation>精度レポート</translation>
    </message>
    <message>
      <source>Choose a reference layer.</source>
      <translation>参照レイヤを選択してください。</translation>
    </message>
    <message>
      <source>Class field of a vector reference</source>
      <translation>ベクタ参照のクラスフィールド</translation>
    </message>
    <message>
      <source>Cohen's kappa</source>
      <translation>コーエンのカッパ係数</translation>
    </message>
    <message>
      <source>Compares a class raster (from 'Classify minerals') with reference data — labelled points or polygons with a class field, or a truth class raster — and reports overall accuracy, Cohen's kappa, macro-F1, per-class producer's and user's accuracy and the confusion matrix (HTML report with a picture; CSV and JSON beside it).</source>
      <translation>クラスラスタ（「鉱物を分類」の出力）を参照データ（クラスフィールドを持つラベル付きポイントまたはポリゴン、あるいは正解クラスラスタ）と比較し、全体精度、コーエンのカッパ係数、マクロ F1、クラスごとの生産者精度とユーザー精度、混同行列を報告します（図入りの HTML レポート、同じ場所に CSV と JSON）。</translation>
    </message>
    <message>
      <source>Evaluate mineral map</source>
      <translation>鉱物マップを評価</translation>
    </message>
    <message>
      <source>HTML files (*.html)</source>
      <translation>HTML ファイル (*.html)</translation>
    </message>
    <message>
      <source>Macro-F1</source>
      <translation>マクロ F1</translation>
    </message>
    <message>
      <source>Mineral class raster</source>
      <translation>鉱物クラスのラスタ</translation>
    </message>
    <message>
      <source>Overall accuracy</source>
      <translation>全体精度</translation>
    </message>
    <message>
      <source>Reference (labelled vector or truth raster)</source>
      <translation>参照データ（ラベル付きベクタまたは正解ラスタ）</translation>
    </message>
  </context>
  <context>
    <name>ExportEdgeAlgorithm</name>
    <message>
      <source>Also write an int8-quantised model</source>
      <translation>int8 に量子化したモデルも書き出す</translation>
    </message>
    <message>
      <source>Device power while classifying (W)</source>
      <translation>分類中のデバイスの消費電力（W）</translation>
    </message>
    <message>
      <source>Edge report</source>
      <translation>エッジ向けレポート</translation>
    </message>
    <message>
      <source>Export model for edge devices (ONNX)</source>
      <translation>エッジデバイス向けにモデルを書き出す（ONNX）</translation>
    </message>
    <message>
      <source>Exports a CMKD model (the RGB student, or a teacher) to ONNX for rovers, drones and field sensors. The model card (classes, bands, normalisation, tile size, pixel size) is stored as ONNX metadata, including the keys the Deepness plugin reads, so the file also opens there; 'Classify minerals' runs .onnx files too, to check the export on your data.

Optionally writes an int8-quantised copy next to it (name.int8.onnx, onnxruntime dynamic quantisation). The report gives file sizes, parameters, FLOPs per pixel, the latency per 512 x 512 tile on this computer for fp32 and int8, and the energy to map one square kilometre for the given device power and ground sampling distance.</source>
      <translation>CMKD モデル（RGB 生徒モデル、または教師モデル）を、ローバー・ドローン・現地センサー向けに ONNX 形式で書き出します。モデルカード（クラス、バンド、正規化、タイルサイズ、ピクセルサイズ）は、Deepness プラグインが読み取るキーも含めて ONNX メタデータとして保存されるため、そのファイルは Deepness でも開けます。「鉱物を分類」でも .onnx ファイルを実行できるので、書き出したモデルをご自身のデータで確認できます。

必要に応じて int8 に量子化したコピーを隣に書き出します（name.int8.onnx、onnxruntime の動的量子化）。レポートには、ファイルサイズ、パラメータ数、ピクセルあたりの FLOPs、このコンピュータでの 512 x 512 タイルあたりの遅延（fp32 と int8）、指定したデバイスの消費電力と地上解像度で 1 平方キロメートルをマッピングするのに必要なエネルギーを示します。</translation>
    </message>
    <message>
      <source>FLOPs per pixel</source>
      <translation>ピクセルあたりの FLOPs</translation>
    </message>
    <message>
      <source>Ground sampling distance (m per pixel)</source>
      <translation>地上解像度（1 ピクセルあたりの m）</translation>
    </message>
    <message>
      <source>JSON files (*.json)</source>
      <translation>JSON ファイル (*.json)</translation>
    </message>
    <message>
      <source>Model file</source>
      <translation>モデルファイル</translation>
    </message>
    <message>
      <source>No model file given; choose a model written by 'Train teacher' or 'Distil RGB student'.</source>
      <translation>モデルファイルが指定されていません。「教師モデルを学習」または「RGB 生徒モデルを蒸留」で書き出したモデルを選んでください。</translation>
    </message>
    <message>
      <source>ONNX model</source>
      <translation>ONNX モデル</translation>
    </message>
    <message>
      <source>ONNX models (*.onnx)</source>
      <translation>ONNX モデル (*.onnx)</translation>
    </message>
    <message>
      <source>Parameters</source>
      <translation>パラメータ数</translation>
    </message>
    <message>
      <source>fp32 energy per km2 (J)</source>
      <translation>fp32 の 1 km² あたりのエネルギー（J）</translation>
    </message>
    <message>
      <source>fp32 latency per 512 x 512 tile (ms)</source>
      <translation>fp32 の 512 x 512 タイルあたりの遅延（ms）</translation>
    </message>
    <message>
      <source>int8 ONNX model</source>
      <translation>int8 ONNX モデル</translation>
    </message>
    <message>
      <source>int8 energy per km2 (J)</source>
      <translation>int8 の 1 km² あたりのエネルギー（J）</translation>
    </message>
    <message>
      <source>int8 latency per 512 x 512 tile (ms)</source>
      <translation>int8 の 512 x 512 タイルあたりの遅延（ms）</translation>
    </message>
  </context>
  <context>
    <name>SetupEngineAlgorithm</name>
    <message>
      <source>Base Python to build the environment from (default: found automatically)</source>
      <translation>環境の作成に使う Python（既定：自動検出）</translation>
    </message>
    <message>
      <source>CPU (works everywhere)</source>
      <translation>CPU（どこでも動作）</translation>
    </message>
    <message>
      <source>CUDA (NVIDIA GPU; needs an NVIDIA driver)</source>
      <translation>CUDA（NVIDIA GPU、NVIDIA ドライバが必要）</translation>
    </message>
    <message>
      <source>Device</source>
      <translation>デバイス</translation>
    </message>
    <message>
      <source>Engine Python</source>
      <translation>エンジン Python</translation>
    </message>
    <message>
      <source>Folder of wheels for an offline install</source>
      <translation>オフラインインストール用の wheel フォルダ</translation>
    </message>
    <message>
      <source>Installs the CMKD engine (PyTorch and the engine's other packages) into its own Python environment, so that every other CMKD algorithm can run. No terminal needed; run it once after installing the plugin, and again to repair or upgrade the engine.

Steps: find a Python able to make the environment (the one QGIS runs on, or python3 on PATH, or the Base Python you choose); create the environment in the target folder; install the engine's pinned packages (the CPU build of torch unless you choose CUDA and an NVIDIA driver is found; the log says which build was chosen and why); run the engine check; store the new interpreter in Processing &gt; Options &gt; Providers &gt; CMKD Survey &gt; Engine Python.

Offline: point 'Folder of wheels' to a folder of .whl files (made on a machine with internet access with: pip download -r engine.txt -d FOLDER); nothing is downloaded then.

The new environment is built beside any existing one and replaces it only when it works: cancelling, or a failed step, leaves the previous engine as it was. A failed step names the command that failed and shows the end of its output.

Needs about 2 GB of free disk space and a few minutes.</source>
      <translation>CMKD エンジン（PyTorch とエンジンが使うその他のパッケージ）を専用の Python 環境にインストールし、他のすべての CMKD アルゴリズムを実行できるようにします。ターミナルは不要です。プラグインのインストール後に一度実行し、エンジンの修復や更新のときにも再度実行してください。

手順：環境を作成できる Python を探します（QGIS が使っている Python、PATH 上の python3、または指定したベース Python）。作成先フォルダに環境を作成し、エンジンのバージョン固定されたパッケージをインストールします（CUDA を選び NVIDIA ドライバが見つかった場合を除き torch は CPU 版。どちらを選んだか、その理由をログに記録します）。エンジンの確認を実行し、新しいインタプリタを プロセシング &gt; オプション &gt; プロバイダ &gt; CMKD Survey &gt; エンジン Python に保存します。

オフライン：「wheel フォルダ」に .whl ファイルのフォルダを指定してください（インターネットに接続できるマシンで pip download -r engine.txt -d フォルダ により作成）。この場合は何もダウンロードしません。

新しい環境は既存の環境の隣に作成し、正しく動作した場合にのみ置き換えます。キャンセルや途中の失敗では、以前のエンジンはそのまま残ります。失敗した手順では、失敗したコマンドとその出力の末尾を表示します。

約 2 GB の空きディスク容量と数分の時間が必要です。</translation>
    </message>
    <message>
      <source>Set up engine</source>
      <translation>エンジンをセットアップ</translation>
    </message>
    <message>
      <source>Stored in Processing &gt; Options &gt; Providers &gt; CMKD Survey &gt; Engine Python: {}</source>
      <translation>プロセシング &gt; オプション &gt; プロバイダ &gt; CMKD Survey &gt; エンジン Python に保存しました: {}</translation>
    </message>
    <message>
      <source>Target folder (default: cmkd_engine in the QGIS profile folder)</source>
      <translation>作成先フォルダ（既定：QGIS プロファイルフォルダ内の cmkd_engine）</translation>
    </message>
    <message>
      <source>torch build</source>
      <translation>torch のビルド</translation>
    </message>
    <message>
      <source>torch version</source>
      <translation>torch のバージョン</translation>
    </message>
  </context>
  <context>
    <name>SimulateSurveyAlgorithm</name>
    <message>
      <source>Class names (comma-separated)</source>
      <translation>クラス名（カンマ区切り）</translation>
    </message>
    <message>
      <source>DEM ground sampling distance (m)</source>
      <translation>DEM の地上解像度（m）</translation>
    </message>
    <message>
      <source>Elevation model (DEM)</source>
      <translation>標高モデル（DEM）</translation>
    </message>
    <message>
      <source>Generate survey scene</source>
      <translation>調査シーンを生成</translation>
    </message>
    <message>
      <source>Generates a realistic, georeferenced survey scene to try the plugin and to train default models: co-registered RGB, hyperspectral (HSI) and DEM rasters, each on its own grid as in real surveys, with ground truth.

Spectra are real laboratory spectra (USGS Spectral Library v7) or, for minerals it lacks, modelled from published absorption-band parameters; RGB is what a camera sees of them. The scene has geological units that follow the terrain, mixing at unit boundaries, topographic illumination and shadows (different sun for RGB and HSI), atmospheric residuals and sensor noise.

Presets (12 classes each): earth_carbonation (an enhanced-weathering / mineral-carbonation site) and mars_analogue.

Outputs: RGB (3 bands, 8-bit), HSI (float32 reflectance with band wavelengths and FWHM in nm; ENVI if the file name ends in .img/.bsq/.dat, else GeoTIFF), DEM (float32, m), truth (class raster with colours and names), labels (points with the field 'mineral', only inside the labelled zone), sites (polygons with site_id and name), the HSI flight strip footprint, and a preview PNG. The same seed gives identical rasters.</source>
      <translation>プラグインの試用や既定モデルの学習のために、現実的で地理参照付きの調査シーンを生成します：実際の調査と同様にそれぞれ独自のグリッドを持つ、位置合わせ済みの RGB・ハイパースペクトル（HSI）・DEM ラスタと正解データです。

スペクトルは実験室で測定された実スペクトル（USGS Spectral Library v7）を用い、そこにない鉱物は公表された吸収帯パラメータからモデル化します。RGB はそれらをカメラで撮影した場合の見え方です。シーンには、地形に沿った地質ユニット、ユニット境界での混合、地形による照明と影（RGB と HSI で異なる太陽位置）、大気の残差、センサーノイズが含まれます。

プリセット（各 12 クラス）：earth_carbonation（風化促進・鉱物炭酸塩化サイト）と mars_analogue（火星アナログ）。

出力：RGB（3 バンド、8 ビット）、HSI（float32 の反射率、nm 単位のバンド波長と FWHM 付き。ファイル名が .img/.bsq/.dat で終わる場合は ENVI、それ以外は GeoTIFF）、DEM（float32、m）、正解（色と名前付きのクラスラスタ）、ラベル（フィールド 'mineral' を持つポイント、ラベル付け範囲内のみ）、サイト（site_id と name を持つポリゴン）、HSI の飛行ストリップの撮影範囲、プレビュー PNG。同じシードからは同一のラスタが生成されます。</translation>
    </message>
    <message>
      <source>Ground truth classes</source>
      <translation>正解クラス</translation>
    </message>
    <message>
      <source>HSI bands (400–2500 nm)</source>
      <translation>HSI のバンド数（400–2500 nm）</translation>
    </message>
    <message>
      <source>HSI coordinate reference system (empty = same as RGB)</source>
      <translation>HSI の座標参照系（空欄 = RGB と同じ）</translation>
    </message>
    <message>
      <source>HSI footprint</source>
      <translation>HSI の撮影範囲</translation>
    </message>
    <message>
      <source>HSI ground sampling distance (m)</source>
      <translation>HSI の地上解像度（m）</translation>
    </message>
    <message>
      <source>Hyperspectral image (HSI)</source>
      <translation>ハイパースペクトル画像（HSI）</translation>
    </message>
    <message>
      <source>Labelled points</source>
      <translation>ラベル付きポイント</translation>
    </message>
    <message>
      <source>Labelled points per class</source>
      <translation>クラスあたりのラベル付きポイント数</translation>
    </message>
    <message>
      <source>PNG files (*.png)</source>
      <translation>PNG ファイル (*.png)</translation>
    </message>
    <message>
      <source>Preset</source>
      <translation>プリセット</translation>
    </message>
    <message>
      <source>Preview picture</source>
      <translation>プレビュー画像</translation>
    </message>
    <message>
      <source>RGB ground sampling distance (m)</source>
      <translation>RGB の地上解像度（m）</translation>
    </message>
    <message>
      <source>RGB image</source>
      <translation>RGB 画像</translation>
    </message>
    <message>
      <source>Random seed</source>
      <translation>乱数シード</translation>
    </message>
    <message>
      <source>Scene size (RGB pixels per side)</source>
      <translation>シーンの大きさ（一辺の RGB ピクセル数）</translation>
    </message>
    <message>
      <source>Sites</source>
      <translation>サイト</translation>
    </message>
  </context>
  <context>
    <name>TrainTeacherAlgorithm</name>
    <message>
      <source>Areal mixing (share of samples mixed; 0: off)</source>
      <translation>面的混合（混合するサンプルの割合、0：なし）</translation>
    </message>
    <message>
      <source>Ensemble members (teachers trained with successive seeds)</source>
      <translation>アンサンブルのメンバー数（連続するシードで学習した教師モデル）</translation>
    </message>
    <message>
      <source>Teacher overall accuracy (validation)</source>
      <translation>教師モデルの全体精度（検証）</translation>
    </message>
    <message>
      <source>Train teacher (RGB + HSI + DEM)</source>
      <translation>教師モデルを学習（RGB + HSI + DEM）</translation>
    </message>
    <message>
      <source>Trains the multi-modal teacher: one encoder per input (RGB, hyperspectral, DEM with derived slope and hillshade) projected into a shared 256-dimensional space, 8-head cross-modal attention at every pixel, and a classifier. Inputs may have any CRS, resolution and extent: they are aligned on the fly to the RGB grid. The class list comes from the labels' class field.

Training uses class-weighted cross-entropy, modality-specific augmentation (spectral warping and band dropout for HSI, noise and tilt for the DEM, colour jitter for RGB), modality dropout (so the teacher tolerates a missing input) and early stopping on a validation split made of spatial blocks (no neighbouring-pixel leakage). Nodata is masked out of every loss.

Ensemble members (advanced, 3 by default): several teachers trained alike with successive seeds (the seed, the seed + 1, ...) and kept in one model file; they answer as one, averaging their class probabilities, which maps better than a single teacher on average and evens out an unlucky seed. Each member costs one more training and makes the teacher's own maps that much slower; the student is as small and fast as ever. 1 trains a single teacher.

Areal mixing (advanced, 0 by default): the share of training samples made linear mixtures of two labelled pixels with the matching mixed target, as a hyperspectral pixel across a boundary is. It helps where minerals are mixed with a spectrally bland cover (on the simulator's Mars scenes, whose units carry dust, 1 mapped 1 point better) and hurts where a class is itself spectrally between two others, as dolomite between calcite and magnesite (the Earth scenes: 5 points worse).

Outputs: the model file (weights and model card: inputs, band wavelengths, normalisation, classes and colours, training parameters and metrics) and an HTML report (a JSON twin is written beside it). The report scores the teacher's map on the validation blocks as Classify minerals makes it: refined by the RGB inside each hyperspectral pixel.</source>
      <translation>マルチモーダルな教師モデルを学習します：入力ごとのエンコーダ（RGB、ハイパースペクトル、傾斜と陰影起伏を派生させた DEM）を共通の 256 次元空間に射影し、各ピクセルで 8 ヘッドのクロスモーダル注意機構を適用して分類器につなぎます。入力の座標参照系・解像度・範囲は任意で、その場で RGB のグリッドに合わせます。クラスの一覧はラベルのクラスフィールドから取得します。

学習では、クラス重み付き交差エントロピー、モダリティ別のデータ拡張（HSI にはスペクトルの歪みとバンドの欠落、DEM にはノイズと傾き、RGB には色のゆらぎ）、モダリティ・ドロップアウト（入力が欠けても教師モデルが動作するように）、空間ブロックで作った検証用分割による早期終了（隣接ピクセルからの情報漏れなし）を用います。nodata はすべての損失から除外します。

アンサンブルのメンバー数（詳細設定、既定値 3）：同じ条件で連続するシード（指定したシード、シード + 1、...）を用いて学習した複数の教師モデルを一つのモデルファイルにまとめます。これらはクラス確率を平均して一つのモデルとして振る舞い、平均的には単一の教師モデルよりも良い地図を作り、運の悪いシードの影響をならします。メンバーが一つ増えるごとに学習が一回分増え、教師モデル自身による地図作成もその分遅くなりますが、生徒モデルの小ささと速さは変わりません。1 を指定すると単一の教師モデルを学習します。

面的混合（詳細設定、既定値 0）：学習サンプルのうちこの割合を、二つのラベル付きピクセルの線形混合とし、目標も同じ割合で混ぜたものにします。境界をまたぐハイパースペクトルピクセルはこのような混合です。鉱物がスペクトル的に特徴の乏しい被覆と混ざる場合に効果があり（シミュレータの火星シーンでは各ユニットにダストが含まれ、1 で地図が 1 ポイント向上）、あるクラスがスペクトル的に他の二つのクラスの中間にある場合（方解石とマグネサイトの中間にあるドロマイトなど。地球シーンでは 5 ポイント低下）には逆効果です。

出力：モデルファイル（重みとモデルカード：入力、バンド波長、正規化、クラスと色、学習パラメータと評価指標）と HTML レポート（同じ場所に JSON 版も出力）。レポートでは、検証用ブロック上の教師モデルの地図を「鉱物を分類」が作るのと同じ形で、すなわち各ハイパースペクトルピクセルの内部を RGB で精緻化した地図として評価します。</translation>
    </message>
  </context>
  <context>
    <name>TuneDistillationAlgorithm</name>
    <message>
      <source>Also tune the class-balance strength</source>
      <translation>クラスバランスの強さも調整する</translation>
    </message>
    <message>
      <source>Best class-balance strength</source>
      <translation>最良のクラスバランスの強さ</translation>
    </message>
    <message>
      <source>Best end temperature</source>
      <translation>最良の終了時の温度</translation>
    </message>
    <message>
      <source>Best feature alignment weight</source>
      <translation>最良の特徴整合の重み</translation>
    </message>
    <message>
      <source>Best start temperature</source>
      <translation>最良の開始時の温度</translation>
    </message>
    <message>
      <source>Best validation overall accuracy (short run)</source>
      <translation>最良の検証全体精度（短い蒸留）</translation>
    </message>
    <message>
      <source>Best validation score</source>
      <translation>最良の検証スコア</translation>
    </message>
    <message>
      <source>Differential evolution</source>
      <translation>差分進化</translation>
    </message>
    <message>
      <source>Epochs of each evaluation</source>
      <translation>各評価のエポック数</translation>
    </message>
    <message>
      <source>Evaluations run</source>
      <translation>実行した評価の数</translation>
    </message>
    <message>
      <source>Grid search</source>
      <translation>グリッドサーチ</translation>
    </message>
    <message>
      <source>Maximum evaluations (short distillations)</source>
      <translation>最大評価回数（短い蒸留の回数）</translation>
    </message>
    <message>
      <source>Random search</source>
      <translation>ランダムサーチ</translation>
    </message>
    <message>
      <source>Search method</source>
      <translation>探索手法</translation>
    </message>
    <message>
      <source>Searches the distillation settings that give the best student: the start temperature (1 to 8), the end temperature (10 % to 100 % of the start temperature), the feature alignment weight (0 to 2) and, optionally, the class-balance strength (0 = no balancing to 1 = inverse class frequency). Each candidate is scored by a short distillation (a few epochs) at the validation blocks of the labels: overall accuracy, ties broken by macro-F1. The scene and the teacher's predictions are computed once.

Search: differential evolution (default), a regular grid or random sampling, never more than the maximum number of evaluations (the grid may use fewer). The same seed gives the same search and the same table.

Outputs: a CSV table with one row per evaluation (settings, validation overall accuracy and macro-F1, seconds, best-so-far flag), rewritten after every evaluation so that a cancelled run keeps what it evaluated; then a student distilled with the best settings for the full number of epochs, with the same report as "Distil RGB student" (written only when the search completes).</source>
      <translation>最良の生徒モデルを与える蒸留設定を探索します：開始時の温度（1〜8）、終了時の温度（開始時の温度の 10 %〜100 %）、特徴整合の重み（0〜2）、および任意でクラスバランスの強さ（0 = バランス調整なし〜1 = クラス頻度の逆数）。各候補は短い蒸留（数エポック）で学習し、ラベルの検証ブロックで採点します：全体精度、同点はマクロ F1 で判定します。シーンと教師モデルの予測は一度だけ計算します。

探索：差分進化（既定）、規則的なグリッド、またはランダムサンプリング。最大評価回数を超えることはありません（グリッドはそれより少ない場合があります）。同じシードからは同じ探索と同じ表が得られます。

出力：評価ごとに 1 行の CSV 表（設定、検証の全体精度とマクロ F1、秒数、その時点での最良フラグ）。評価のたびに書き直すため、キャンセルした実行でも評価済みの内容が残ります。その後、最良の設定で全エポック数だけ蒸留した生徒モデルと、「RGB 生徒モデルを蒸留」と同じレポートを書き出します（探索が完了した場合のみ）。</translation>
    </message>
    <message>
      <source>Student overall accuracy</source>
      <translation>生徒モデルの全体精度</translation>
    </message>
    <message>
      <source>Table of evaluations</source>
      <translation>評価の表</translation>
    </message>
    <message>
      <source>Teacher model file</source>
      <translation>教師モデルファイル</translation>
    </message>
    <message>
      <source>Tune distillation settings</source>
      <translation>蒸留設定を調整</translation>
    </message>
  </context>
  <context>
    <name>_TrainingAlgorithm</name>
    <message>
      <source>Class field</source>
      <translation>クラスフィールド</translation>
    </message>
    <message>
      <source>Epochs</source>
      <translation>エポック数</translation>
    </message>
    <message>
      <source>Labelled points or polygons</source>
      <translation>ラベル付きポイントまたはポリゴン</translation>
    </message>
    <message>
      <source>Model file</source>
      <translation>モデルファイル</translation>
    </message>
    <message>
      <source>Random seed</source>
      <translation>乱数シード</translation>
    </message>
    <message>
      <source>Training report</source>
      <translation>学習レポート</translation>
    </message>
  </context>
</TS>
